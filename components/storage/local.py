"""LocalStorage: keys are files below a local folder; writes go through a temp file and a rename."""
from __future__ import annotations

from pathlib import Path
from typing import IO, Iterator

from fcbench.codecs.common import atomic
from fcbench.codecs.common.types import PathLike
from fcbench.components.storage.base import CHUNK, ObjectInfo, Storage
from fcbench.components.storage.errors import StorageNotFound
from fcbench.components.storage.keys import check_key


class LocalStorage(Storage):
    """Keys are files below `root`; writes go through a temp file and a rename."""

    def __init__(self, root: PathLike):
        self.root = Path(root).expanduser().absolute()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise StorageNotFound(f"{path}: no such file") from None
        if not path.is_file():
            raise StorageNotFound(f"{path} is not a file")
        return ObjectInfo(key, st.st_size, None, f"{st.st_mtime_ns}-{st.st_size}")

    def ls(self, prefix: str = "") -> list[str]:
        check_key(prefix, allow_prefix=True)
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return []
        keys = []
        for path in base.rglob("*"):
            if path.is_file() and not _is_temp(path.name):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def clean_interrupted_uploads(self, key_prefix: str = "") -> int:
        """Delete the temp files of writes killed midway below `key_prefix` (partial downloads,
        `.part`, are kept: a retry resumes from them)."""
        check_key(key_prefix, allow_prefix=True)
        base = self.root / key_prefix if key_prefix.strip("/") else self.root
        stale = [p for p in base.rglob(".*.tmp") if p.is_file()] if base.is_dir() else []
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return (self.root / key).as_uri() if key else self.root.as_uri()

    def _put_stream(self, key: str, stream: IO[bytes], length: int, sha256: str) -> None:
        with atomic.open_write(self._path(key)) as f:
            while chunk := stream.read(CHUNK):  # the verifying reader stops at `length`
                f.write(chunk)

    def _iter_chunks(self, key: str, offset: int = 0) -> Iterator[bytes]:
        path = self._path(key)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise StorageNotFound(f"{path}: no such file") from None
        with f:
            f.seek(offset)
            while chunk := f.read(CHUNK):
                yield chunk


def _is_temp(name: str) -> bool:
    return name.startswith(".") and (name.endswith(".tmp") or name.endswith(".part"))
