"""Atomic file writes: a reader sees the old file or the whole new one, never half of it."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Union

import numpy as np


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (/proc/self/status);
    elsewhere set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_folder(path: Union[str, Path]) -> Path:
    """`mkdir -p` whose error names the file standing where a folder must be."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
        raise NotADirectoryError(errno.ENOTDIR, "is a file where a folder is needed", str(blocker)) from None
    return path


@contextlib.contextmanager
def open_write(path: Union[str, Path]) -> Iterator[BinaryIO]:
    """A binary file to write in pieces; it replaces `path` (fsync + rename) when the block ends
    without an error and is removed otherwise. The temp file is a dot-file beside `path`. The
    file gets the permissions a plain open() would give (0666 less the umask): mkstemp's 0600
    would hide results from the group on shared clusters."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    make_folder(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) and not exc.filename:  # say where the disk is full
            raise OSError(exc.errno, f"{os.strerror(exc.errno)} while writing", str(path)) from None
        raise
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


def write_npy(path: Union[str, Path], array: np.ndarray) -> str:
    """Write an .npy atomically, streamed (numpy writes a large array in chunks: no second copy of
    it in memory); returns the sha256 of the bytes written."""
    with open_write(path) as f:
        hashing = _HashingWriter(f)
        np.save(hashing, np.asarray(array), allow_pickle=False)
    return hashing.sha256.hexdigest()


class _HashingWriter:
    """A write-only file that hashes what passes through it."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.sha256 = hashlib.sha256()

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        return self.f.write(data)


class Busy(RuntimeError):
    """Another process holds the lock."""


@contextlib.contextmanager
def locked(path: Union[str, Path], wait: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on the lock file `path` (created if needed) for the block. Writers
    of shared outputs (a feature set, a results table) serialise on it; a lock file (flock) also
    works on NFS. The lock goes with the process, so a killed holder never blocks the next.
    `wait=False`: raise Busy at once when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise Busy(f"{path} is locked by another process") from None
        yield
    finally:
        os.close(fd)  # releases the lock
