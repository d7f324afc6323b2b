"""Storage URIs -> backends: one scheme -> backend table (as MLflow keeps for artifact repositories).

A local path or `file://` URI opens a LocalStorage, `s3://bucket[/prefix]` an S3Storage (minio is
imported only then). `register_backend` adds a scheme.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional
from urllib.parse import unquote, urlparse

from fcbench.components.storage.base import Storage
from fcbench.components.storage.config import StorageConfig
from fcbench.components.storage.errors import StorageError

# (uri, config) -> Storage. Local paths have the scheme "".
Backend = Callable[[str, Optional[StorageConfig]], Storage]


def local_path_of(uri: str) -> Path:
    """The path of a local path or `file:///abs/path` URI."""
    parsed = urlparse(str(uri))
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StorageError(f"{uri!r}: file:// URIs must be local (file:///abs/path)")
        return Path(unquote(parsed.path))
    if "://" in str(uri):
        raise StorageError(f"{uri!r}: unsupported storage scheme {parsed.scheme!r} (use a local path, file:// or s3://)")
    return Path(uri)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> ("bucket", "a/b")."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"{uri!r} is not an s3://bucket[/prefix] URI")
    return parsed.netloc, parsed.path.lstrip("/")


def _open_local(uri: str, config: Optional[StorageConfig]) -> Storage:
    from fcbench.components.storage.local import LocalStorage

    return LocalStorage(local_path_of(uri))


def _open_s3(uri: str, config: Optional[StorageConfig]) -> Storage:
    from fcbench.components.storage.s3 import S3Storage

    bucket, prefix = split_s3_uri(uri)
    return S3Storage(bucket, prefix, config or StorageConfig.from_env())


BACKENDS: dict[str, Backend] = {"": _open_local, "file": _open_local, "s3": _open_s3}


def register_backend(scheme: str, backend: Backend) -> None:
    """Open URIs of `scheme` with `backend(uri, config) -> Storage`."""
    BACKENDS[scheme.lower()] = backend


def scheme_of(uri: str) -> str:
    return urlparse(str(uri)).scheme.lower() if "://" in str(uri) else ""


def is_remote(uri: str) -> bool:
    """Is `uri` object storage (anything but a local path or file:// URI)?"""
    return scheme_of(uri) not in ("", "file")


def open_storage(uri: str, config: Optional[StorageConfig] = None) -> Storage:
    """The Storage rooted at `uri`: a path or file:// URI, s3://bucket[/prefix], or a registered scheme."""
    scheme = scheme_of(uri)
    if scheme not in BACKENDS:
        raise StorageError(f"{uri!r}: unsupported storage scheme {scheme!r} (use a local path, file:// or "
                           f"{', '.join(s + '://' for s in sorted(BACKENDS) if s and s != 'file')})")
    return BACKENDS[scheme](str(uri), config)
