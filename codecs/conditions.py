"""Test conditions as typed data, loaded from the YAML shipped in the package."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from fcbench.codecs.common.types import UnknownName

RangeValue = Union[float, list[float]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSpec(_Strict):
    name: str
    direction: Literal["higher", "lower"]
    unit: str = ""


class _Range(_Strict):
    low: RangeValue
    high: RangeValue

    @model_validator(mode="after")
    def _same_length(self):
        lo = self.low if isinstance(self.low, list) else [self.low]
        hi = self.high if isinstance(self.high, list) else [self.high]
        if len(lo) != len(hi) or any(h <= low for low, h in zip(lo, hi)):
            raise ValueError(f"bad range low={self.low} high={self.high}")
        return self


class TraditionalConditions(_Range):
    bit_depth: int = 10
    qps: list[int]


class LearnedConditions(_Range):
    lambdas: list[float]
    epochs: int
    batch: int
    crop: tuple[int, int]
    lr: float  # Adam's learning rate on the network (the entropy bottleneck's quantiles: 1e-3)


class Observed(_Strict):
    min: RangeValue
    max: RangeValue


class TaskConditions(_Strict):
    model: str
    task: str
    checkpoint: str
    head: str
    split_point: str
    feature_shape: tuple[int, int, int, int]
    feature_dtype: str
    origin_dtype: str
    samples: int
    sample_list: str
    layout: str  # one of fcbench.codecs.chain.packing.LAYOUTS (checked below: one list of layouts)
    metric: MetricSpec
    traditional: TraditionalConditions
    learned: LearnedConditions
    observed: Observed

    @field_validator("layout")
    @classmethod
    def _known_layout(cls, v: str) -> str:
        from fcbench.codecs.chain.packing import LAYOUTS

        if v not in LAYOUTS:
            raise ValueError(f"layout {v!r} is not one of the packing layouts {list(LAYOUTS)}")
        return v

    @field_validator("feature_shape")
    @classmethod
    def _shape(cls, v):
        if any(s == 0 or s < -1 for s in v):
            raise ValueError(f"feature_shape entries are sizes or -1 (varies): {v}")
        return v

    @property
    def key(self) -> str:
        return f"{self.model}/{self.task}"


class TestConditions(_Strict):
    version: str
    tasks: list[TaskConditions]

    def get(self, model: str, task: str) -> TaskConditions:
        for t in self.tasks:
            if t.model == model and t.task == task:
                return t
        known = ", ".join(f"{t.model} {t.task}" for t in self.tasks)
        raise UnknownName(f"no test conditions for model {model!r} task {task!r}; known: {known}")

    def for_task(self, task: str) -> TaskConditions:
        matches = [t for t in self.tasks if t.task == task]
        if len(matches) != 1:
            raise KeyError(f"no single test condition for task {task!r}")
        return matches[0]


@lru_cache(maxsize=1)
def load_conditions(path: Optional[str] = None) -> TestConditions:
    """The shipped test conditions (or a user's YAML of the same schema)."""
    if path is None:
        text = resources.files("fcbench.codecs").joinpath("data/conditions.yaml").read_text()
    else:
        with open(path) as f:
            text = f.read()
    return TestConditions.model_validate(yaml.safe_load(text))


def conditions_version() -> str:
    return load_conditions().version


def coding_conditions(tc: TaskConditions, family: Literal["traditional", "learned"],
                      quantization: Literal["round", "legacy"] = "round") -> dict:
    """Keyword conditions for Codec.encode from a task's test conditions.

    traditional: truncate to the VTM-path range, 10-bit uniform quantization, the task's
    packing. learned: truncate to the hyperprior-path range (the codec normalises).
    quantization "legacy" is the reference's floor, "round" rounds to nearest.
    """
    if family == "traditional":
        c = tc.traditional
        return {"low": c.low, "high": c.high, "truncate": True, "bit_depth": c.bit_depth,
                "layout": tc.layout, "quant": quantization}
    if family == "learned":
        learned = tc.learned
        return {"low": learned.low, "high": learned.high, "truncate": True, "layout": tc.layout}
    raise ValueError(f"unknown codec family {family!r}; choose 'traditional' or 'learned'")
