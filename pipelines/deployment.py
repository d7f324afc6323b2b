"""How pipeline tasks are deployed on Kubeflow: per-stage resources, retries, timeouts, scratch and
cache volumes, fan-out parallelism, image pull secrets. Compile-time settings (KFP fixes them in
the IR), overridable per compile: `fcbench compile|submit|upload --deploy KEY=VALUE --deploy-file F`.

The defaults are sized for the paper's real models (docs/cluster.md, "Resources"):
  extract, evaluate   one GPU; CPU RAM for loading Llama-3-8B in bf16 (16 GB of weights, loaded
                      through host memory) or SD3 medium with its T5 encoder; weights and data are
                      staged to a scratch volume of 64 GiB.
  hyperprior_train    one GPU, a data loader on 8 cores, days of epochs: a long timeout, and
                      retries resume from the per-epoch checkpoint in the cache volume.
  code_traditional    CPU only: VTM takes minutes of one core per frame, so 8 cores (one sweep
                      worker per core of the limit) and ~1.5 GiB per VTM process.
  the rest            small CPU tasks.
Ephemeral storage: KFP's IR has no field for it, so big files go to the `scratch` emptyDir
(sized per stage) and the namespace's LimitRange (manifests/base/limitrange.yaml) gives every
container its ephemeral-storage request and limit.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from fcbench.components import cluster

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")
_DURATION = re.compile(r"^[0-9]+(s|m|h)$")
SCRATCH_PATH = "/fcbench-scratch"
CACHE_PATH = "/fcbench-cache"


@dataclass(frozen=True)
class StageResources:
    """One stage's pod: requests and limits, scratch volume size, timeout, retries."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    scratch: str  # size limit of the task's scratch emptyDir (staged weights/data, temporary files)
    timeout_s: int  # activeDeadlineSeconds of the pod
    retries: int = 2
    gpus: int = 0

    def sweep_jobs(self) -> int:
        """Codec sweep workers: one per whole core of the CPU limit."""
        return max(1, int(cpu_cores(self.cpu_limit)))


def _gpu(cpu: str, cpu_limit: str, mem: str, mem_limit: str, scratch: str, hours: float, retries: int = 2) -> StageResources:
    return StageResources(cpu, cpu_limit, mem, mem_limit, scratch, int(hours * 3600), retries, gpus=1)


def _cpu(cpu: str, cpu_limit: str, mem: str, mem_limit: str, scratch: str, hours: float, retries: int = 2) -> StageResources:
    return StageResources(cpu, cpu_limit, mem, mem_limit, scratch, int(hours * 3600), retries)


DEFAULT_STAGES: dict[str, StageResources] = {
    "resolve_codecs": _cpu("250m", "1", "512Mi", "1Gi", "1Gi", 0.25),
    "open_tracking": _cpu("100m", "500m", "256Mi", "512Mi", "1Gi", 0.25),
    "extract": _gpu("4", "8", "32Gi", "48Gi", "64Gi", 6),
    "prepare_coding": _cpu("2", "4", "4Gi", "8Gi", "20Gi", 2),
    "code_traditional": _cpu("8", "8", "12Gi", "16Gi", "20Gi", 12),
    "hyperprior_train": _gpu("8", "8", "32Gi", "64Gi", "50Gi", 72, retries=3),
    "hyperprior_infer": _cpu("4", "4", "8Gi", "16Gi", "20Gi", 6),
    "evaluate": _gpu("4", "8", "32Gi", "48Gi", "64Gi", 6),
    "report": _cpu("500m", "2", "1Gi", "4Gi", "5Gi", 0.5),
    "klt_fit": _cpu("2", "4", "8Gi", "16Gi", "20Gi", 2),
}
STAGES = tuple(DEFAULT_STAGES)  # the stages a deployment sets, one list


@dataclass(frozen=True)
class Deployment:
    """Everything about running the tasks on a cluster that is fixed when compiling."""

    stages: Mapping[str, StageResources] = field(default_factory=lambda: dict(DEFAULT_STAGES))
    parallelism: int = 8  # concurrent iterations of each fan-out (codec x QP, hyperprior models, lambdas)
    retry_backoff: str = "60s"
    retry_backoff_factor: float = 2.0
    retry_backoff_max: str = "30m"
    pull_secrets: tuple[str, ...] = (cluster.REGISTRY_SECRET,)  # a missing one is ignored by the kubelet
    cache_pvc: str = cluster.CACHE_PVC  # RWX PVC at CACHE_PATH: codec jobs, training checkpoints, offline tracking
    local: bool = False  # the kfp local runner: no retries (it would sleep through the backoff)

    def stage(self, name: str) -> StageResources:
        if name not in self.stages:
            raise KeyError(f"no deployment settings for stage {name!r}; stages: {', '.join(self.stages)}")
        return self.stages[name]

    def for_local(self) -> "Deployment":
        return replace(self, local=True)


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity ("500m", "2") in cores."""
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


_MEMORY_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "m": 1e-3,
                 "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def memory_bytes(quantity: str) -> float:
    """A Kubernetes memory quantity ("512Mi", "16Gi", "1G") in bytes."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)", str(quantity))
    if not match or match[2] not in _MEMORY_UNITS:
        raise ValueError(f"{quantity!r} is not a Kubernetes memory quantity")
    return float(match[1]) * _MEMORY_UNITS[match[2]]


# ---- overrides ---------------------------------------------------------------------------------
_TOP = {f.name: f for f in dataclasses.fields(Deployment) if f.name not in ("stages", "local")}
_STAGE_FIELDS = {f.name: f for f in dataclasses.fields(StageResources)}


def _convert(key: str, kind: Any, value: Any) -> Any:
    text = str(value).strip()
    if kind in (int, "int"):
        if not re.fullmatch(r"[0-9]+", text):
            raise ValueError(f"--deploy {key}={value!r}: expected a whole number")
        return int(text)
    if kind in (float, "float"):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"--deploy {key}={value!r}: expected a number") from None
    if "tuple" in str(kind):
        items = value if isinstance(value, (list, tuple)) else [v for v in text.split(",") if v.strip()]
        return tuple(str(v).strip() for v in items)
    return text


def _check(key: str, value: Any) -> None:
    leaf = key.rsplit(".", 1)[-1]
    if leaf.startswith(("cpu_", "memory_")) or leaf == "scratch":
        if not _QUANTITY.match(str(value)):
            raise ValueError(f"--deploy {key}={value!r} is not a Kubernetes quantity (e.g. 500m, 4, 16Gi)")
    if leaf in ("retry_backoff", "retry_backoff_max") and not _DURATION.match(str(value)):
        raise ValueError(f"--deploy {key}={value!r} is not a duration (e.g. 30s, 5m, 1h)")
    if leaf == "parallelism" and int(value) < 1:
        raise ValueError(f"--deploy {key}={value!r}: parallelism must be at least 1")


def with_overrides(base: Deployment, overrides: Mapping[str, Any]) -> Deployment:
    """`base` with KEY=VALUE overrides: a top-level field (parallelism, retry_backoff, pull_secrets
    (comma-separated; '' = none), cache_pvc ('' = no cache volume)) or STAGE.FIELD (e.g.
    code_traditional.cpu_limit=16, extract.memory_limit=64Gi, evaluate.retries=0); `*.FIELD`
    sets it for every stage. Unknown keys and malformed values are errors naming them."""
    top: dict[str, Any] = {}
    stages = dict(base.stages)
    for key, value in overrides.items():
        if "." not in key:
            if key not in _TOP:
                raise ValueError(f"--deploy {key}: unknown setting; top-level: {', '.join(_TOP)}; "
                                 f"per stage: STAGE.FIELD with STAGE in {', '.join(STAGES)} or *")
            top[key] = _convert(key, _TOP[key].type, value)
            _check(key, top[key])
            continue
        stage, _, name = key.partition(".")
        if stage != "*" and stage not in stages:
            raise ValueError(f"--deploy {key}: unknown stage {stage!r}; stages: {', '.join(stages)} (or * for all)")
        if name not in _STAGE_FIELDS:
            raise ValueError(f"--deploy {key}: unknown field {name!r}; fields: {', '.join(_STAGE_FIELDS)}")
        converted = _convert(key, _STAGE_FIELDS[name].type, value)
        _check(key, converted)
        for s in (stages if stage == "*" else [stage]):
            stages[s] = replace(stages[s], **{name: converted})
    for name, res in stages.items():  # Kubernetes rejects a pod whose request exceeds its limit
        if cpu_cores(res.cpu_request) > cpu_cores(res.cpu_limit):
            raise ValueError(f"--deploy {name}: cpu_request {res.cpu_request} exceeds cpu_limit {res.cpu_limit} "
                             f"(Kubernetes would reject the pod); raise {name}.cpu_limit too")
        if memory_bytes(res.memory_request) > memory_bytes(res.memory_limit):
            raise ValueError(f"--deploy {name}: memory_request {res.memory_request} exceeds memory_limit "
                             f"{res.memory_limit} (Kubernetes would reject the pod); raise {name}.memory_limit too")
    return replace(base, stages=stages, **top)


def load_overrides(path: Path) -> dict[str, Any]:
    """A YAML file of overrides: top-level keys, and `stages: {STAGE: {FIELD: value}}`."""
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"--deploy-file {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"--deploy-file {path}: expected a mapping of settings")
    flat = {k: v for k, v in doc.items() if k != "stages"}
    for stage, fields in (doc.get("stages") or {}).items():
        if not isinstance(fields, dict):
            raise ValueError(f"--deploy-file {path}: stages.{stage} must be a mapping of fields")
        flat.update({f"{stage}.{k}": v for k, v in fields.items()})
    return flat


# ---- the deployment in force while a pipeline is built -----------------------------------------
DEFAULT = Deployment()
_ACTIVE: contextvars.ContextVar[Deployment] = contextvars.ContextVar("fcbench_deployment", default=DEFAULT)


def active() -> Deployment:
    """The deployment pipelines/steps.py applies to the tasks being built."""
    return _ACTIVE.get()


@contextlib.contextmanager
def building_with(deployment: Optional[Deployment]) -> Iterator[Deployment]:
    """Build pipelines (KFP runs the pipeline function when it is decorated) under `deployment`."""
    token = _ACTIVE.set(deployment or DEFAULT)
    try:
        yield _ACTIVE.get()
    finally:
        _ACTIVE.reset(token)


# ---- rebuilding a pipeline under another deployment ---------------------------------------------
_BUILDER_ATTR, _DEPLOYMENT_ATTR = "fcbench_builder", "fcbench_deployment"


def built(pipeline: Any, builder: Any, dep: Deployment) -> Any:
    """Remember how `pipeline` was built, so a runner can rebuild it under another deployment."""
    setattr(pipeline, _BUILDER_ATTR, builder)
    setattr(pipeline, _DEPLOYMENT_ATTR, dep)
    return pipeline


def rebuilt(pipeline: Any, dep: Deployment) -> Any:
    """`pipeline` built under `dep` (itself when it already is, or was not built by a factory)."""
    builder = getattr(pipeline, _BUILDER_ATTR, None)
    if builder is None or getattr(pipeline, _DEPLOYMENT_ATTR, None) == dep:
        return pipeline
    return builder(dep)


def local_variant(pipeline: Any) -> Any:
    """The pipeline as the kfp local runner should run it (no retries, no task variables)."""
    dep = getattr(pipeline, _DEPLOYMENT_ATTR, None)
    return pipeline if dep is None or dep.local else rebuilt(pipeline, dep.for_local())
