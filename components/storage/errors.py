"""The storage errors: every message names the endpoint/bucket or path involved."""
from __future__ import annotations


class StorageError(RuntimeError):
    """A storage operation failed; the message names the endpoint/bucket or path involved."""


class StorageNotFound(StorageError):
    """A missing bucket, key, folder or local path."""


class StorageAuthError(StorageError):
    """The endpoint refused the credentials."""


class StorageUnreachable(StorageError):
    """The endpoint could not be reached (refused, timed out, DNS)."""


class StorageIntegrityError(StorageError):
    """Content that does not match its sha256 or size."""
