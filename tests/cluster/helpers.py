"""Helpers for the cluster deployment tests: find kubectl/hadolint, render overlays, walk workloads."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.paths import REPO

MANIFESTS = REPO / "manifests"
IMAGES = REPO / "images"
# Every kustomization a user may apply or render; the secrets template is rendered too.
OVERLAYS = ("overlays/local", "overlays/existing-s3", "overlays/production")
OWN_MINIO_OVERLAYS = ("overlays/local", "overlays/production")
SECRETS_TEMPLATE = "secrets-template"


def find_tool(name: str) -> Path | None:
    """The venv's copy first (scripts/install-tools.sh puts the pinned ones there), then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which(name)
    return Path(found) if found else None




_RENDERED: dict[str, list[dict[str, Any]]] = {}


def render(kubectl: Path, kustomization: str) -> list[dict[str, Any]]:
    """`kubectl kustomize` of one folder under manifests/, parsed; cached per session."""
    if kustomization not in _RENDERED:
        out = subprocess.run(
            [str(kubectl), "kustomize", str(MANIFESTS / kustomization)],
            capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, f"kubectl kustomize {kustomization} failed:\n{out.stderr}"
        docs = [d for d in yaml.safe_load_all(out.stdout) if d]
        assert docs, f"{kustomization} rendered nothing"
        _RENDERED[kustomization] = docs
    return _RENDERED[kustomization]


def render_dir(kubectl: Path, folder: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` of a kustomization written by a test (not cached)."""
    out = subprocess.run([str(kubectl), "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"kubectl kustomize {folder} failed:\n{out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(owner, pod spec) for every workload that makes pods."""
    out = []
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
            out.append((f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"]))
    return out


def containers(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(owner/container, container) for every container and init container."""
    out = []
    for owner, spec in pod_specs(docs):
        for c in spec.get("initContainers", []) + spec["containers"]:
            out.append((f"{owner}/{c['name']}", c))
    return out
