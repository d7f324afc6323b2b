"""The Storage protocol: primitives a backend implements, and single-object transfers on top.

A Storage is a root (a local folder, an S3 bucket+prefix) holding objects under relative keys.
Backends implement the primitives (`stat`, `ls`, `delete`, `url`, `_put_stream`,
`_iter_chunks`); uploads, checked downloads that resume, and (FolderTransfers, folders.py)
folder pushes and pulls are shared. Guarantees (docs/storage.md): no reader ever sees half an
object, every object written carries its sha256 and every download is checked against it.
"""
from __future__ import annotations

import abc
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Optional, cast

from fcbench.codecs.common.hashing import sha256_file
from fcbench.codecs.common.types import PathLike
from fcbench.components.storage.errors import StorageError, StorageIntegrityError, StorageNotFound
from fcbench.components.storage.folders import FolderTransfers
from fcbench.components.storage.keys import check_key

CHUNK = 1 << 20


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: Optional[str]  # None where the backend does not record it (local files, foreign objects)
    version: str  # changes whenever the content does (S3 ETag; local mtime+size)


_EMPTY_SHA = hashlib.sha256(b"").hexdigest()


class _VerifyingReader(io.RawIOBase):
    """Passes exactly `length` bytes of `stream` through; the read that completes them raises
    StorageIntegrityError unless their sha256 is the declared one, and a stream that ends early
    raises too, so the backend aborts instead of storing a wrong or short object."""

    def __init__(self, stream: IO[bytes], length: int, sha256: str, where: str):
        self._stream, self._left, self._sha, self._where = stream, length, sha256, where
        self._length = length
        self._h = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if n is None or n < 0 else min(n, self._left)
        data = self._stream.read(want)
        if not data:
            raise StorageIntegrityError(f"{self._where}: the source ended after {self._length - self._left} of {self._length} bytes")
        self._h.update(data)
        self._left -= len(data)
        if self._left == 0 and self._h.hexdigest() != self._sha:
            raise StorageIntegrityError(f"{self._where}: the source's sha256 {self._h.hexdigest()} is not the declared {self._sha}")
        return data


class Storage(FolderTransfers, abc.ABC):
    """A root (local folder or S3 bucket+prefix) holding objects under relative keys.

    Backends implement the primitives (`stat`, `ls`, `delete`, `url`, `_put_stream`,
    `_iter_chunks`); single-object transfers and checks are shared here, folder operations in
    FolderTransfers."""

    uri: str

    # -- primitives ------------------------------------------------------------------------
    def check_bucket(self) -> None:
        """StorageNotFound naming the bucket when an object store's does not exist (S3Storage);
        a folder has none to check."""

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Size, recorded sha256 and version of `key`; StorageNotFound when absent."""

    @abc.abstractmethod
    def ls(self, prefix: str = "") -> list[str]:
        """Every key starting with `prefix` (a plain string prefix, as in S3), sorted."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key`; removing an absent key is not an error."""

    @abc.abstractmethod
    def url(self, key: str) -> str:
        """The full URI of `key` (s3://bucket/prefix/key or file:///abs/path)."""

    @abc.abstractmethod
    def _put_stream(self, key: str, stream: IO[bytes], length: int, sha256: str) -> None:
        """Store exactly `length` bytes read from `stream` atomically, recording `sha256`."""

    @abc.abstractmethod
    def _iter_chunks(self, key: str, offset: int = 0) -> Iterator[bytes]:
        """The content of `key` from byte `offset` on."""

    def clean_interrupted_uploads(self, key_prefix: str = "") -> int:
        """Remove what uploads killed midway left below `key_prefix` (invisible to readers, but
        stored: S3 incomplete multipart uploads, local temp files); returns how many. `push_dir`
        calls it first, as the folder it pushes is its own. Default: nothing to clean."""
        return 0

    # -- single objects --------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
            return True
        except StorageNotFound:
            return False

    def _upload(self, key: str, stream: IO[bytes], length: int, sha256: str) -> ObjectInfo:
        check_key(key)
        if length == 0 and sha256 != _EMPTY_SHA:
            raise StorageIntegrityError(f"{self.url(key)}: an empty upload cannot have sha256 {sha256}")
        # The backend stores the object only after the last byte was read, and the reader
        # raises on that read if the bytes were not the declared ones: never a wrong object.
        self._put_stream(key, cast(IO[bytes], _VerifyingReader(stream, length, sha256, self.url(key))), length, sha256)
        # Confirmed by the store itself: a server that answers 200 to everything stores nothing.
        try:
            stored = self.stat(key)
        except StorageNotFound:
            raise StorageIntegrityError(f"{self.url(key)}: the server accepted the upload but does not hold the "
                                        f"object (nothing stored)") from None
        if stored.size != length or (stored.sha256 is not None and stored.sha256 != sha256):  # local files carry none
            raise StorageIntegrityError(f"{self.url(key)}: the server accepted the upload but holds {stored.size} "
                                        f"bytes with sha256 {stored.sha256}, not the {length} bytes sent "
                                        f"(sha256 {sha256})")
        return stored

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        return self._upload(key, io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest())

    def put_file(self, key: str, path: PathLike, sha256: Optional[str] = None) -> ObjectInfo:
        """Upload a local file (multipart when large); `sha256` skips re-hashing a known file."""
        check_key(key)
        path = Path(path)
        if not path.is_file():
            raise StorageNotFound(f"cannot upload {path} to {self.url(key)}: no such file")
        size = path.stat().st_size
        sha = sha256 or sha256_file(path)
        with open(path, "rb") as f:
            return self._upload(key, f, size, sha)

    def put_stream(self, key: str, stream: IO[bytes], length: int, sha256: str) -> ObjectInfo:
        """Upload `length` bytes from a readable stream whose sha256 is known in advance
        (the object is stored only if the bytes read match it)."""
        return self._upload(key, stream, length, sha256)

    def get_bytes(self, key: str) -> bytes:
        """The whole object, checked against its recorded size and sha256."""
        check_key(key)
        info = self.stat(key)
        data = b"".join(self._iter_chunks(key))
        self._check(info, len(data), hashlib.sha256(data).hexdigest() if info.sha256 else None, info.sha256)
        return data

    def checksum(self, key: str) -> str:
        """sha256 of the stored content, computed by streaming it (never trusted metadata)."""
        check_key(key)
        h = hashlib.sha256()
        for chunk in self._iter_chunks(key):
            h.update(chunk)
        return h.hexdigest()

    def get_file(self, key: str, path: PathLike, sha256: Optional[str] = None) -> Path:
        """Download `key` to `path` atomically, checked against `sha256` (or the recorded one).

        Bytes arrive in a hidden `.part` file beside `path`, tied to the object's version; an
        interrupted download leaves it there and the next call resumes from its end."""
        check_key(key)
        path = Path(path)
        info = self.stat(key)
        expected = sha256 or info.sha256
        path.parent.mkdir(parents=True, exist_ok=True)
        tag = hashlib.sha256(info.version.encode()).hexdigest()[:16]
        part = path.parent / f".{path.name}.{tag}.part"
        for stale in path.parent.glob(f".{path.name}.*.part"):
            if stale != part:  # a partial of an older version of the object
                stale.unlink(missing_ok=True)
        offset = part.stat().st_size if part.exists() else 0
        if offset > info.size:
            part.unlink()
            offset = 0
        h = hashlib.sha256()
        if offset:
            with open(part, "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
        received = offset
        with open(part, "ab") as f:
            try:
                if offset < info.size:
                    for chunk in self._iter_chunks(key, offset):
                        f.write(chunk)
                        h.update(chunk)
                        received += len(chunk)
            except StorageError as exc:
                f.flush()
                raise type(exc)(f"{exc}; {received} of {info.size} bytes kept in {part}, a retry resumes from there") from exc
            f.flush()
            os.fsync(f.fileno())
        try:
            self._check(info, received, h.hexdigest() if expected else None, expected)
        except StorageIntegrityError:
            part.unlink(missing_ok=True)  # bad bytes: never resume from them
            raise
        os.replace(part, path)
        return path

    def _check(self, info: ObjectInfo, size: int, actual_sha: Optional[str], expected_sha: Optional[str]) -> None:
        where = self.url(info.key)
        if size != info.size:
            raise StorageIntegrityError(f"{where}: received {size} bytes, the object has {info.size}")
        if expected_sha and actual_sha != expected_sha:
            raise StorageIntegrityError(f"{where}: sha256 {actual_sha} does not match the expected {expected_sha}")
