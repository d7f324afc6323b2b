"""Publish a stage's outputs to object storage, under the key layout of storage/keys.py.

Every component calls `publish` (or `publish_coding`, its per-(codec, rate point) form) after
writing its local outputs. An empty storage URI means local only: nothing is sent. Folders go
with Storage.push_dir (every file sha256-checked on upload, a feature set's manifest and then
the folder index written last, files already intact skipped, so a retried task resumes).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from fcbench.codecs.common.types import PathLike, RatePoint
from fcbench.components.storage.keys import artifact_key


def publish(storage_uri: str, path: PathLike, key: str, name: Optional[str] = None) -> str:
    """Upload `path` below `key` of `storage_uri` and return its URI ('' when storage_uri is '').

    A folder is pushed as a whole; a file lands at `key + (name or its file name)`."""
    if not storage_uri:
        return ""
    from fcbench.components.storage.uris import open_storage

    storage = open_storage(storage_uri)
    src = Path(path)
    if src.is_dir():
        storage.push_dir(src, key)
        return storage.url(key)
    if src.is_file():
        target = key + (name or src.name)
        storage.put_file(target, src)
        return storage.url(target)
    raise FileNotFoundError(f"cannot publish {src} to {storage_uri}: it does not exist")


def publish_coding(storage_uri: str, model: str, task: str, label: str, rate_point: RatePoint,
                   recon_dir: PathLike, results_path: PathLike,
                   bitstreams_dir: Optional[PathLike] = None, rate_unit: Optional[str] = None) -> dict[str, str]:
    """Reconstruction, bitstreams and rate results of one (label, rate point): their URIs. `label`
    is the codec and its chain (x265+side/6b is kept under x265+side-6b/); `rate_unit` is the
    codec's (`crf` for AV1; default: `qp` for an integer rate point)."""
    if not storage_uri:
        return {}
    if not model or not task:
        raise ValueError(f"publishing {label} at {rate_point} to {storage_uri} needs the model and task "
                         f"(got model={model!r}, task={task!r}): they are part of the storage key")

    def key(kind: str) -> str:
        return artifact_key(model, task, kind, label=label, rate_point=rate_point, rate_unit=rate_unit)

    out = {"recon": publish(storage_uri, recon_dir, key("recon")),
           "metrics": publish(storage_uri, results_path, key("metrics"), "results.json")}
    if bitstreams_dir is not None:
        out["bitstreams"] = publish(storage_uri, bitstreams_dir, key("bitstreams"))
    return out


def run_segment(name: str) -> str:
    """A run name usable as a storage key segment (KFP job names may hold other characters)."""
    cleaned = re.sub(r"[^A-Za-z0-9._=+-]+", "-", name).strip("-.")
    if not cleaned:
        raise ValueError(f"run name {name!r} has no characters usable in a storage key")
    return cleaned
