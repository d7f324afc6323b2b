"""Compiled IR for a KFP backend older than the kfp-kubernetes that compiled it.

Backends read the IR strictly (protojson): a field their protos lack fails the upload or the run.
What kfp-kubernetes 2.17 writes that older backends lack, and how it is left out with the same
meaning there:
  - `optional: false` on Secret/ConfigMap env settings (KFP 2.15 added the field; before it the
    object was always required): dropped for targets before 2.15;
  - `secretNameParameter`, `configMapNameParameter`, `pvcNameParameter` beside the plain name
    they repeat as a constant (added in 2.5): dropped for targets before 2.5.
What cannot be left out: artifact fan-ins (dsl.Collected, `isArtifactList` in the IR; KFP 2.14)
in the benchmark pipelines, and the sized scratch volumes (`emptyDirMounts`; KFP 2.4) in every
pipeline. tests/pipelines/test_kfp_backends.py checks the result against the real protos of each
version.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

OLDEST = (2, 4)  # emptyDirMounts: every task's scratch volume
COLLECTED = (2, 14)  # dsl.Collected of artifacts: the benchmark pipelines' fan-ins
NAME_PARAMETERS = (2, 5)  # the *NameParameter fields
NATIVE = (2, 15)  # the IR as compiled; older targets get it rewritten
_ENV_SETTINGS = ("secretAsEnv", "configMapAsEnv")
_PLAIN_NAME = {"secretNameParameter": "secretName", "configMapNameParameter": "configMapName",
               "pvcNameParameter": "constant"}


def dotted(version: tuple[int, int]) -> str:
    return ".".join(map(str, version))


def parse_target(text: str) -> tuple[int, int]:
    """'2.5' or '2.14.3' -> (2, 5); ValueError for anything else or a version fcbench cannot serve."""
    parts = text.strip().lstrip("v").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:3]):
        raise ValueError(f"KFP target {text!r} is not a version like 2.14")
    target = (int(parts[0]), int(parts[1]))
    if target < OLDEST:
        raise ValueError(f"KFP {text} cannot run fcbench's pipelines: every task has a sized scratch volume "
                         f"(emptyDirMounts), which needs KFP {dotted(OLDEST)} or newer")
    return target


def for_backend(docs: list[dict], target: Optional[tuple[int, int]], name: str = "the pipeline") -> list[dict]:
    """The IR documents (pipeline spec, platform spec) as a `target` backend reads them; None or a
    target at least NATIVE: unchanged. ValueError when the pipeline needs more than the target has."""
    if target is None or target >= NATIVE:
        return docs
    if target < COLLECTED and _collects_artifacts(docs[0]):
        raise ValueError(f"{name} fans in artifacts with dsl.Collected, which needs KFP {dotted(COLLECTED)} or newer "
                         f"(the benchmark pipelines do; fit_klt and train_hyperprior run on KFP {dotted(OLDEST)}+)")
    for platform in docs[1:]:
        executors = platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
        for executor, config in executors.items():
            for setting in (s for key in _ENV_SETTINGS for s in config.get(key, [])):
                if setting.get("optional") is True:
                    raise ValueError(f"{executor}: an optional Secret/ConfigMap needs KFP 2.15 or newer")
                setting.pop("optional", None)
            if target < NAME_PARAMETERS:
                _drop_name_parameters(config, executor)
    return docs


def _collects_artifacts(node: Any) -> bool:
    if isinstance(node, dict):
        return node.get("isArtifactList") is True or any(_collects_artifacts(v) for v in node.values())
    return isinstance(node, list) and any(_collects_artifacts(v) for v in node)


def _drop_name_parameters(node: Any, executor: str) -> None:
    """Remove each *NameParameter that repeats its object's plain name as a constant."""
    if isinstance(node, list):
        for item in node:
            _drop_name_parameters(item, executor)
        return
    if not isinstance(node, dict):
        return
    for key, plain in _PLAIN_NAME.items():
        if key in node:
            constant = (node[key].get("runtimeValue") or {}).get("constant") if isinstance(node[key], dict) else None
            if constant is None or node.get(plain) != constant:
                raise ValueError(f"{executor}: {key} {node[key]} is not a constant name: it needs KFP "
                                 f"{dotted(NAME_PARAMETERS)} or newer")
            del node[key]
    for value in node.values():
        _drop_name_parameters(value, executor)


def rewrite(path: Path, target: Optional[tuple[int, int]], name: str = "the pipeline") -> None:
    """Rewrite a compiled pipeline file in place for `target` (see for_backend)."""
    import yaml

    if target is None or target >= NATIVE:
        return
    docs: list[Any] = list(yaml.safe_load_all(path.read_text()))
    path.write_text(yaml.safe_dump_all(for_backend(docs, target, name), sort_keys=False))
