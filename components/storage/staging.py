"""Staging: a verified local copy of an `s3://` object or folder, for the layers that take paths;
verifying the feature set at a local or `s3://` URI."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from fcbench.codecs.common.hashing import sha256_file
from fcbench.codecs.common.types import PathLike
from fcbench.codecs.features.featureset import MANIFEST
from fcbench.components.storage.config import StorageConfig
from fcbench.components.storage.errors import StorageNotFound
from fcbench.components.storage.featuresets import featureset_problems
from fcbench.components.storage.uris import is_remote, local_path_of, open_storage, split_s3_uri


def stage(uri: PathLike, cache_dir: PathLike, config: Optional[StorageConfig] = None) -> Path:
    """A local path holding the content of `uri`, for the pure layers that take paths.

    Local paths are returned as they are (they must exist). An `s3://` object is downloaded to
    `cache_dir/<bucket>/<key>`, an `s3://` folder (pushed with push_dir, or a feature set) is
    pulled there; what is already cached and intact (sha256) is reused, the rest fetched."""
    uri = str(uri)
    if not is_remote(uri):
        path = local_path_of(uri)
        if not path.exists():
            raise StorageNotFound(f"cannot stage {uri}: {path} does not exist")
        return path
    bucket, key = split_s3_uri(uri)
    root = open_storage(f"s3://{bucket}", config)
    dest = Path(cache_dir) / bucket / key
    if key and not key.endswith("/"):
        try:
            info = root.stat(key)
        except StorageNotFound:
            info = None
        if info is not None:
            if info.sha256 and dest.is_file() and dest.stat().st_size == info.size and sha256_file(dest) == info.sha256:
                return dest
            return root.get_file(key, dest)
    prefix = key.rstrip("/")
    root.check_bucket()  # a missing bucket is named as such, not as a missing folder
    try:
        root.pull_dir(prefix, dest)
    except StorageNotFound as exc:
        raise StorageNotFound(f"cannot stage {uri}: it is neither an object nor a pushed folder ({exc})") from exc
    return dest


def verify_featureset(uri: PathLike, config: Optional[StorageConfig] = None) -> list[str]:
    """Problems of the feature set at a local folder or s3:// prefix; empty when intact.

    Every sample is hashed against the manifest (remote ones are streamed, not stored)."""
    uri = str(uri)
    if not is_remote(uri):
        folder = local_path_of(uri)
        if not (folder / MANIFEST).is_file():
            return [f"not a feature set: {folder / MANIFEST} is missing"]
        return featureset_problems(folder)
    return open_storage(uri, config).verify_featureset("")
