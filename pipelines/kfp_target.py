"""Compiled IR for a KFP backend older than the kfp-kubernetes that compiled it.

Backends read the platform spec strictly (protojson): a field their proto lacks fails the run.
kfp-kubernetes 2.17 writes `optional: false` on every Secret and ConfigMap env setting, a field
KFP 2.15 added; for a 2.14 backend it is left out, which means the same there (before 2.15 the
object was always required). Older backends cannot run fcbench at all: its fan-ins collect
artifacts with dsl.Collected, which needs 2.14. tests/pipelines/test_kfp_backends.py checks the
result against the real protos of each version.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

OLDEST = (2, 14)  # dsl.Collected of artifacts
NATIVE = (2, 15)  # the IR as compiled; older targets get it rewritten
_ENV_SETTINGS = ("secretAsEnv", "configMapAsEnv")


def parse_target(text: str) -> tuple[int, int]:
    """'2.14' or '2.14.3' -> (2, 14); ValueError for anything else or a version fcbench cannot serve."""
    parts = text.strip().lstrip("v").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:3]):
        raise ValueError(f"KFP target {text!r} is not a version like 2.14")
    target = (int(parts[0]), int(parts[1]))
    if target < OLDEST:
        raise ValueError(f"KFP {text} cannot run fcbench's pipelines: their fan-ins collect artifacts with dsl.Collected, "
                         f"which needs KFP {'.'.join(map(str, OLDEST))} or newer")
    return target


def for_backend(docs: list[dict], target: Optional[tuple[int, int]]) -> list[dict]:
    """The IR documents (pipeline spec, platform spec) as a `target` backend reads them; None or a
    target at least NATIVE: unchanged."""
    if target is None or target >= NATIVE:
        return docs
    for platform in docs[1:]:
        executors = platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
        for name, config in executors.items():
            for setting in (s for key in _ENV_SETTINGS for s in config.get(key, [])):
                if setting.get("optional") is True:
                    raise ValueError(f"{name}: an optional Secret/ConfigMap ({setting}) needs KFP 2.15 or newer")
                setting.pop("optional", None)
    return docs


def rewrite(path: Path, target: Optional[tuple[int, int]]) -> None:
    """Rewrite a compiled pipeline file in place for `target` (see for_backend)."""
    import yaml

    if target is None or target >= NATIVE:
        return
    docs: list[Any] = list(yaml.safe_load_all(path.read_text()))
    path.write_text(yaml.safe_dump_all(for_backend(docs, target), sort_keys=False))
