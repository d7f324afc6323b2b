"""Inputs given as URIs -> local paths, for the pure layers: `s3://` is staged from object
storage, `models:/` downloaded from the MLflow registry, both into FCBENCH_STAGE_DIR."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

from fcbench.codecs.common import settings
from fcbench.codecs.common.types import PathLike


def local_path(uri: str, cache_dir: Optional[PathLike] = None, tracking: str = "") -> Path:
    """A local path for a file or folder URI: `s3://` is staged through fcbench.components.storage;
    `models:/<name>/<version>` is downloaded from the MLflow registry at `tracking` (else
    $MLFLOW_TRACKING_URI); plain paths and file:// are used in place and must exist."""
    if not uri:
        raise ValueError("empty URI")
    if uri.startswith("models:/"):
        return _registered_model(uri, cache_dir, tracking)
    if uri.startswith("s3://"):
        from fcbench.components.storage import stage

        return Path(stage(uri, Path(cache_dir) if cache_dir else settings.STAGE_DIR.get()))
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    if "://" in uri:
        raise ValueError(f"unsupported URI {uri!r}: use a local path, file://, s3:// or models:/<name>/<version>")
    path = Path(uri)
    if not path.exists():
        raise FileNotFoundError(f"{uri} does not exist")
    return path


def _registered_model(uri: str, cache_dir: Optional[PathLike], tracking: str) -> Path:
    """The checkpoint file of a registered model version, downloaded into the stage cache."""
    from fcbench.components.tracking import load_registered_checkpoint, stage_tracking_uri

    server = stage_tracking_uri(tracking)
    if not server:
        raise ValueError(f"{uri} is an MLflow registry URI but no tracking server is configured: "
                         f"pass the pipeline's tracking_uri or set MLFLOW_TRACKING_URI")
    name = uri[len("models:/"):].strip("/")
    if not name or "/" not in name:
        raise ValueError(f"{uri!r}: expected models:/<name>/<version>")
    # One folder per model version: a version's files never change, a retry reuses nothing stale.
    folder = "models-" + hashlib.sha256(f"{server}|{name}".encode()).hexdigest()[:16]
    cache = Path(cache_dir) if cache_dir else settings.STAGE_DIR.get()
    return Path(load_registered_checkpoint(uri, cache / folder, tracking_uri=server))


def staged_codec_options(codec: str, options: dict) -> dict:
    """`options` with every file option of `codec` (Codec.file_options: klt's table, the
    hyperprior's checkpoint or checkpoints) given as a URI (`s3://`, `models:/`, `file://`)
    staged to a local file: codecs read local files only. Other options are unchanged."""
    from fcbench.codecs.registry import codec_class

    names = codec_class(codec).file_options
    return {k: (_staged(v) if k in names else v) for k, v in options.items()}


def _staged(value: Any) -> Any:
    if isinstance(value, str) and ("://" in value or value.startswith("models:/")):
        return str(local_path(value))
    if isinstance(value, dict):  # {rate point: file}
        return {k: _staged(v) for k, v in value.items()}
    return value
