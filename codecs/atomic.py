"""Atomic file writes: a reader sees the old file or the whole new one, never half of it."""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Union

import numpy as np


@contextlib.contextmanager
def open_write(path: Union[str, Path]) -> Iterator[BinaryIO]:
    """A binary file to write in pieces; it replaces `path` (fsync + rename) when the block ends
    without an error and is removed otherwise. The temp file is a dot-file beside `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def is_temp_of(name: str, target: str) -> bool:
    """Is `name` a temp file that open_write made for `target` (left behind by a kill)?"""
    return name.startswith(f".{target}.") and name.endswith(".tmp")


def write_bytes(path: Union[str, Path], data: bytes) -> None:
    with open_write(path) as f:
        f.write(data)


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
