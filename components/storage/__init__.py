"""Object storage: one API over local folders and S3 buckets (MinIO or any S3 endpoint).

`open_storage(uri)` gives a `Storage` rooted at a local path (`/data/x`, `file:///data/x`) or at
`s3://bucket/prefix`; keys are relative `a/b/c` names below that root (layout: keys.py).
Guarantees (docs/storage.md): no reader ever sees half an object or half a folder, every object
carries its sha256 and every download is checked against it, interrupted transfers resume.
Endpoint and credentials come from the FCBENCH_S3_* settings, never from code.

One concern per module:
    errors       the StorageError family          config    StorageConfig (endpoint, timeouts)
    base         Storage: primitives + objects    folders   push/pull/verify of folders
    local        LocalStorage                     s3        S3Storage (minio; imported lazily)
    uris         scheme -> backend, open_storage  staging   stage(): a verified local copy; verify_featureset
    featuresets  feature-set checks               keys      the key layout of artifacts
    publish      a stage's outputs -> storage
"""
from fcbench.components.storage.base import ObjectInfo, Storage
from fcbench.components.storage.config import StorageConfig
from fcbench.components.storage.errors import StorageAuthError, StorageError, StorageIntegrityError, StorageNotFound, StorageUnreachable
from fcbench.components.storage.folders import INDEX, TransferReport
from fcbench.components.storage.local import LocalStorage
from fcbench.components.storage.staging import stage, verify_featureset
from fcbench.components.storage.uris import BACKENDS, is_remote, open_storage, register_backend, split_s3_uri

__all__ = [
    "BACKENDS", "INDEX", "LocalStorage", "ObjectInfo", "Storage", "StorageAuthError", "StorageConfig", "StorageError",
    "StorageIntegrityError", "StorageNotFound", "StorageUnreachable", "TransferReport", "S3Storage", "is_remote",
    "open_storage", "register_backend", "split_s3_uri", "stage", "verify_featureset",
]


def __getattr__(name: str):
    # S3Storage imports minio: loaded on first use only.
    if name == "S3Storage":
        from fcbench.components.storage.s3 import S3Storage

        return S3Storage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
