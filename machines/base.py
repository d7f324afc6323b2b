"""The machine protocol: one split model per (model, task) that extracts and evaluates features."""
from __future__ import annotations

import abc
import importlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Optional, Union

import numpy as np

from fcbench.codecs.chain.fidelity import sample_mse
from fcbench.codecs.common.types import UnknownName
from fcbench.codecs.features.featureset import FeatureSet

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class Metric:
    """A task metric owns its name, direction and aggregation."""

    name: str
    value: float
    direction: Direction
    aggregation: str
    unit: str = ""

    def better(self, other: "Metric") -> bool:
        return self.value > other.value if self.direction == "higher" else self.value < other.value


@dataclass
class Evaluation:
    """Metrics (primary first), per-sample details and feature MSE against the reference."""

    metrics: list[Metric]
    per_sample: list[dict[str, Any]] = field(default_factory=list)
    feature_mse: Optional[float] = None

    @property
    def primary(self) -> Metric:
        return self.metrics[0]

    def as_dict(self) -> dict:
        return {
            "metrics": {m.name: asdict(m) for m in self.metrics},
            "primary": self.primary.name,
            "feature_mse": self.feature_mse,
            "per_sample": self.per_sample,
        }


def feature_mse(features: FeatureSet, reference: FeatureSet) -> float:
    """Mean over samples of mean((orig - rec)^2) (docs/test-conditions.md §2), the per-sample
    MSE of fcbench.codecs.chain.fidelity (the one a sweep records per sample)."""
    missing = [s for s in reference.ids if s not in features]
    if missing:
        raise ValueError(f"reconstructed feature set lacks {len(missing)} reference samples, e.g. {missing[:3]}")
    errors = []
    for sample_id in reference.ids:
        ref, rec = reference.read(sample_id), features.read(sample_id)
        try:
            errors.append(sample_mse(ref, rec))
        except ValueError as exc:
            raise ValueError(f"sample {sample_id}: {exc}") from None
    return float(np.mean(errors))


class Machine(abc.ABC):
    """A split model for one task: `extract` features at the split point, `evaluate` a
    (reconstructed) feature set by running the second half and the task metric."""

    model: ClassVar[str]
    task: ClassVar[str]
    # True where the task metric compares with what the ORIGINAL features give (FID of images
    # generated from decoded vs original latents): evaluate refuses to run without `reference`.
    needs_reference: ClassVar[bool] = False

    @abc.abstractmethod
    def extract(self, data: Union[str, Path], out: Union[str, Path], **options: Any) -> FeatureSet:
        """Run the first half on the task's samples under `data`; write a feature set to `out`."""

    @abc.abstractmethod
    def evaluate(self, features: Union[str, Path, FeatureSet], data: Union[str, Path],
                 reference: Union[str, Path, FeatureSet, None] = None, **options: Any) -> Evaluation:
        """Run the second half on `features`; metrics vs ground truth under `data` (and vs what
        the `reference` features give, where `needs_reference`)."""


_MACHINES: dict[tuple[str, str], Callable[..., Machine]] = {}
_MACHINE_MODULES = ("fcbench.machines.dinov2", "fcbench.machines.llama3", "fcbench.machines.sd3")


_NEEDS_REFERENCE: set[tuple[str, str]] = set()


def register_machine(model: str, task: str, needs_reference: bool = False) -> Callable:
    """Register a machine factory; `needs_reference` as its class's (known before building it,
    so commands refuse a missing reference before loading a model)."""
    def deco(factory: Callable[..., Machine]) -> Callable[..., Machine]:
        _MACHINES[(model, task)] = factory
        if needs_reference:
            _NEEDS_REFERENCE.add((model, task))
        return factory

    return deco


def machine_needs_reference(model: str, task: str) -> bool:
    """Whether (model, task)'s metric needs the original features as a reference (sd3/tti's FID)."""
    _load()
    return (model, task) in _NEEDS_REFERENCE


def _load() -> None:
    for name in _MACHINE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def machine_names() -> list[tuple[str, str]]:
    _load()
    return sorted(_MACHINES)


def get_machine(model: str, task: str, weights: Union[str, Path, None] = None, **options: Any) -> Machine:
    """Build the machine for (model, task); `weights` is a local path or object-storage URI."""
    _load()
    if (model, task) not in _MACHINES:
        known = ", ".join(f"{m}/{t}" for m, t in sorted(_MACHINES)) or "none"
        raise UnknownName(f"no machine for model {model!r} task {task!r}; known: {known}")
    return _MACHINES[(model, task)](weights=weights, **options)
