"""Downloading a registered hyperprior checkpoint (models:/, runs:/ or an offline journal URI)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from fcbench.codecs.common import settings
from fcbench.codecs.common.types import PathLike
from fcbench.components.tracking.server import check_reachable, default_tracking_uri
from fcbench.components.tracking.sinks import read_events


def load_registered_checkpoint(model_uri: str, dst_dir: PathLike, tracking_uri: Optional[str] = None) -> Path:
    """Download a registered hyperprior's checkpoint file (models:/name/version, runs:/..., or
    an offline journal URI) into dst_dir and return its path."""
    dst = Path(dst_dir)
    dst.mkdir(parents=True, exist_ok=True)
    if model_uri.startswith("file:") and "#run=" in model_uri:
        files = _offline_checkpoint(model_uri)
    else:
        import mlflow.artifacts

        uri = tracking_uri or default_tracking_uri()
        check_reachable(uri)
        settings.apply_mlflow_client_defaults()
        artifact_uri = _resolve_model_uri(model_uri, uri)
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, dst_path=str(dst), tracking_uri=uri))
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
    if len(files) != 1:
        raise ValueError(f"{model_uri}: expected exactly one checkpoint file, found {[f.name for f in files]}")
    if files[0].parent != dst:
        target = dst / files[0].name
        shutil.copyfile(files[0], target)
        return target
    return files[0]


def _resolve_model_uri(model_uri: str, tracking_uri: str) -> str:
    """models:/<name>/<version|alias|latest> -> its artifact URI, asked of *this* server's registry
    (mlflow's own models:/ resolution reads the process-global registry URI instead)."""
    if not model_uri.startswith("models:/"):
        return model_uri
    name, _, ref = model_uri[len("models:/"):].rpartition("/")
    if not name:
        raise ValueError(f"model URI {model_uri!r} is not models:/<name>/<version|alias|latest>")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if ref == "latest":
        versions = client.search_model_versions(f"name = '{name}'")
        if not versions:
            raise KeyError(f"registered model {name!r} has no versions at {tracking_uri}")
        ref = str(max(int(v.version) for v in versions))
    version = ref if ref.isdigit() else client.get_model_version_by_alias(name, ref).version
    return client.get_model_version_download_uri(name, version)


def _offline_checkpoint(model_uri: str) -> list[Path]:
    base, frag = model_uri.split("#", 1)
    run = dict(p.split("=", 1) for p in frag.split("&"))["run"]
    session = Path(urlparse(base).path).parent
    for ev in read_events(session):
        if ev["type"] == "artifact" and ev["run"] == run and ev["artifact_path"] == "checkpoint":
            return [session.parent / ev["file"]]
    raise FileNotFoundError(f"{model_uri}: no journalled checkpoint for run {run}")
