"""Atomic file writes: a reader sees the old file or the whole new one, never half of it."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Union

import numpy as np


def write_bytes(path: Union[str, Path], data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def strict_json(obj: Any) -> Any:
    """Replace non-finite floats by None: JSON has no Infinity/NaN and strict readers refuse them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def write_json(path: Union[str, Path], obj: Any) -> None:
    """Atomic, strict JSON (non-finite floats become null)."""
    text = json.dumps(strict_json(obj), indent=2, sort_keys=True, allow_nan=False)
    write_bytes(path, (text + "\n").encode())


def write_npy(path: Union[str, Path], array: np.ndarray) -> bytes:
    """Write an .npy atomically; returns the bytes written (for hashing)."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    data = buf.getvalue()
    write_bytes(path, data)
    return data
