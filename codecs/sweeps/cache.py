"""Content-addressed cache of finished coding jobs (docs/architecture.md, "Cache key").

key = sha256 of a canonical JSON of: the input feature's bytes (sha256), the preprocessing
conditions, the codec identity (name, version, binary and cfg sha256, options) and the rate
point. An entry is the container bytes plus the job's metrics; the container is written first
and the metrics JSON (which holds the container's sha256) last, both atomically, so an entry
exists only when complete and a killed job leaves nothing half-written.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from fcbench.codecs.common import atomic

CACHE_FORMAT = "fcbench-cache/1"


def jsonable(value: Any) -> Any:
    """Canonical JSON form: numpy scalars/arrays and tuples become plain numbers and lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"dtype": value.dtype.name, "shape": list(value.shape), "sha256": hashlib.sha256(value.tobytes()).hexdigest()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot put a {type(value).__name__} into a cache key")


def canonical_json(value: Any) -> str:
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"))


def cache_key(feature_sha256: str, conditions: dict, identity: dict, rate_point: Union[int, float]) -> str:
    """The job's content address (hex sha256)."""
    if isinstance(rate_point, bool) or not isinstance(rate_point, (int, float, np.integer, np.floating)):
        raise TypeError(f"rate point must be a number, got {rate_point!r}")
    body = {"format": CACHE_FORMAT, "feature": feature_sha256, "conditions": conditions,
            "codec": identity, "rate_point": rate_point}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    key: str
    container: bytes
    metrics: dict


class JobCache:
    """Finished jobs under `root/<key[:2]>/<key>.{bin,json}`."""

    def __init__(self, root: Union[str, Path]) -> None:
        self.root = Path(root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        folder = self.root / key[:2]
        return folder / f"{key}.bin", folder / f"{key}.json"

    def __contains__(self, key: str) -> bool:
        return self._paths(key)[1].is_file()

    def get(self, key: str) -> Optional[CacheEntry]:
        """The finished entry, or None when absent or damaged (then the job is simply redone)."""
        bin_path, json_path = self._paths(key)
        try:
            meta = json.loads(json_path.read_text())
            data = bin_path.read_bytes()
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if meta.get("key") != key or hashlib.sha256(data).hexdigest() != meta.get("container_sha256"):
            return None
        return CacheEntry(key, data, meta["metrics"])

    def put(self, key: str, container: bytes, metrics: dict) -> None:
        bin_path, json_path = self._paths(key)
        atomic.write_bytes(bin_path, container)
        atomic.write_json(json_path, {"format": CACHE_FORMAT, "key": key,
                                      "container_sha256": hashlib.sha256(container).hexdigest(),
                                      "metrics": jsonable(metrics)})

    def keys(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("??/*.json") if not p.name.startswith("."))
