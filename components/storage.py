"""Object storage: one API over local folders and S3 buckets (MinIO or any S3 endpoint).

`open_storage(uri)` gives a `Storage` rooted at a local path (`/data/x`, `file:///data/x`) or at
`s3://bucket/prefix`; keys are relative `a/b/c` names below that root (layout: keys.py).

Guarantees (docs/storage.md):
- no reader ever sees half an object: S3 PUT / multipart-complete is atomic per object, local
  writes go to a temp file that is renamed; folders are pushed file by file with the feature-set
  manifest and then the folder index uploaded LAST, so whoever finds them finds every file;
- every object written here carries its sha256 (S3 user metadata `x-amz-meta-sha256`, and the
  folder index), downloads are checked against it and land in a temp file renamed at the end;
- an interrupted download keeps its partial file and the next attempt resumes from it; an
  interrupted upload aborts its multipart upload (nothing visible) and is retried cleanly;
  `push_dir` / `pull_dir` skip files that are already intact on the other side.
Endpoint and credentials come from the environment (`StorageConfig.from_env`), never from code.
"""
from __future__ import annotations

import abc
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Iterator, Mapping, Optional, Union
from urllib.parse import unquote, urlparse

from fcbench.codecs import atomic, settings
from fcbench.codecs.settings import SettingError
from fcbench.codecs.hashing import sha256_file
from fcbench.codecs.featureset import MANIFEST
from fcbench.components.keys import check_key

PathLike = Union[str, Path]

INDEX = ".fcbench-index.json"  # the folder index, written after every other file of a folder
INDEX_FORMAT = "fcbench-dir/1"
CHUNK = 1 << 20
MiB = 1 << 20


# ---- errors ------------------------------------------------------------------------------
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


# ---- configuration -----------------------------------------------------------------------
@dataclass(frozen=True)
class StorageConfig:
    """How to reach an S3 endpoint. `endpoint` is `host:port` or `http(s)://host:port`."""

    endpoint: Optional[str] = None
    access_key: Optional[str] = None
    secret_key: Optional[str] = field(default=None, repr=False)
    secure: Optional[bool] = None  # None: from the endpoint's scheme, else False
    region: Optional[str] = None
    # Fail fast: a dead endpoint must not cost minutes of urllib3 retries.
    connect_timeout: float = 5.0
    read_timeout: float = 120.0
    retries: int = 2
    part_size: int = 16 * MiB  # multipart above this size (S3 minimum part: 5 MiB)
    parallel_uploads: int = 3

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None, **overrides) -> "StorageConfig":
        """The FCBENCH_S3_* settings (fcbench.codecs.settings), read from `env` (default: the
        process environment)."""
        try:
            cfg = cls(
                endpoint=settings.S3_ENDPOINT.get(env),
                access_key=settings.S3_ACCESS_KEY.get(env),
                secret_key=settings.S3_SECRET_KEY.get(env),
                secure=settings.S3_SECURE.get(env),
                region=settings.S3_REGION.get(env),
            )
        except SettingError as exc:
            raise StorageError(str(exc)) from None
        return replace(cfg, **overrides) if overrides else cfg

    def resolve_endpoint(self) -> tuple[str, bool]:
        """(host:port, secure) for the minio client; StorageError when unset or malformed."""
        if not self.endpoint:
            raise StorageError("no S3 endpoint configured: set FCBENCH_S3_ENDPOINT (host:port or http(s)://host:port)")
        raw = self.endpoint.strip()
        if "://" in raw:
            parsed = urlparse(raw)
            if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path not in ("", "/"):
                raise StorageError(f"S3 endpoint {raw!r} must be host:port or http(s)://host:port (no path)")
            secure = parsed.scheme == "https" if self.secure is None else self.secure
            return parsed.netloc, secure
        if "/" in raw or not raw:
            raise StorageError(f"S3 endpoint {raw!r} must be host:port or http(s)://host:port")
        return raw, bool(self.secure)

    def endpoint_url(self) -> str:
        netloc, secure = self.resolve_endpoint()
        return f"{'https' if secure else 'http'}://{netloc}"


# ---- the storage protocol ----------------------------------------------------------------
@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: Optional[str]  # None where the backend does not record it (local files, foreign objects)
    version: str  # changes whenever the content does (S3 ETag; local mtime+size)


@dataclass
class TransferReport:
    """What push_dir / pull_dir did: files considered, moved, and skipped as already intact."""

    files: int = 0
    transferred: int = 0
    skipped: int = 0
    bytes: int = 0

    def __str__(self) -> str:
        return f"{self.files} files: {self.transferred} transferred ({self.bytes / MiB:.1f} MiB), {self.skipped} already intact"


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


def _join(prefix: str, key: str) -> str:
    return f"{prefix.rstrip('/')}/{key}" if prefix.strip("/") else key


class Storage(abc.ABC):
    """A root (local folder or S3 bucket+prefix) holding objects under relative keys.

    Backends implement the primitives (`stat`, `ls`, `delete`, `url`, `_put_stream`,
    `_iter_chunks`); transfers, checks and folder operations are shared here."""

    uri: str

    # -- primitives ------------------------------------------------------------------------
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
        self._put_stream(key, _VerifyingReader(stream, length, sha256, self.url(key)), length, sha256)
        return ObjectInfo(key, length, sha256, "")

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

    # -- folders -----------------------------------------------------------------------------
    def push_dir(self, local_dir: PathLike, key_prefix: str = "") -> TransferReport:
        """Upload a folder (e.g. a feature set) below `key_prefix`; resumable, manifest last.

        A feature set is verified before anything is sent. Every file is uploaded first, then
        `manifest.json`, then the folder index (names, sizes, sha256): a reader that finds the
        manifest finds every sample, one that finds the index finds every file. Files already
        stored with the same sha256 are skipped, so a rerun after an interruption resumes."""
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise StorageNotFound(f"cannot push {local_dir}: not a folder")
        check_key(key_prefix, allow_prefix=True)
        if (local_dir / MANIFEST).is_file():
            problems = _featureset_problems(local_dir)
            if problems:
                raise StorageIntegrityError(f"refusing to push {local_dir}: " + "; ".join(problems))
        entries = {rel: (p.stat().st_size, sha256_file(p)) for rel, p in _walk(local_dir)}
        if not entries:
            raise StorageNotFound(f"cannot push {local_dir}: the folder holds no files")
        order = sorted(entries, key=lambda rel: (rel == MANIFEST, rel))
        report = TransferReport(files=len(order))
        pending = [rel for rel in order if not self._intact(_join(key_prefix, rel), *entries[rel])]
        if pending:
            # The old index/manifest would describe files we are about to replace: withdraw
            # them first so no reader trusts a half-updated folder.
            self.delete(_join(key_prefix, INDEX))
            if MANIFEST in entries:
                self.delete(_join(key_prefix, MANIFEST))
                if MANIFEST not in pending:
                    pending.append(MANIFEST)
        for rel in order:
            if rel not in pending:
                report.skipped += 1
                continue
            size, sha = entries[rel]
            self.put_file(_join(key_prefix, rel), local_dir / rel, sha256=sha)
            report.transferred += 1
            report.bytes += size
        index = {"format": INDEX_FORMAT, "files": {rel: {"size": s, "sha256": h} for rel, (s, h) in sorted(entries.items())}}
        index_bytes = (json.dumps(index, indent=1, sort_keys=True) + "\n").encode()
        if pending or not self._intact(_join(key_prefix, INDEX), len(index_bytes), hashlib.sha256(index_bytes).hexdigest()):
            self.put_bytes(_join(key_prefix, INDEX), index_bytes)
        return report

    def _intact(self, key: str, size: int, sha: str) -> bool:
        """Is `key` already stored with this size and content?"""
        try:
            info = self.stat(key)
        except StorageNotFound:
            return False
        if info.size != size:
            return False
        return (info.sha256 or self.checksum(key)) == sha

    def read_index(self, key_prefix: str = "") -> dict[str, dict]:
        """{relative name: {size, sha256}} of a pushed folder: from its index, else (a feature
        set written by other means) from its manifest. StorageNotFound when neither exists."""
        return self._read_index(key_prefix)[0]

    def _read_index(self, key_prefix: str) -> tuple[dict[str, dict], Optional[bytes]]:
        """(files, the index's raw bytes or None when it came from the manifest)."""
        check_key(key_prefix, allow_prefix=True)
        ikey = _join(key_prefix, INDEX)
        try:
            raw = self.get_bytes(ikey)
        except StorageNotFound:
            raw = None
        if raw is not None:
            body = _load_json(raw, self.url(ikey))
            if body.get("format") != INDEX_FORMAT or not isinstance(body.get("files"), dict):
                raise StorageIntegrityError(f"{self.url(ikey)} is not an {INDEX_FORMAT} index")
            return body["files"], raw
        try:
            manifest = _load_json(self.get_bytes(_join(key_prefix, MANIFEST)), self.url(_join(key_prefix, MANIFEST)))
        except StorageNotFound:
            raise StorageNotFound(
                f"{self.url(key_prefix)} is not a pushed folder: neither {INDEX} nor {MANIFEST} is there"
            ) from None
        files = {f"{sid}.npy": {"size": None, "sha256": sha} for sid, sha in _manifest_samples(manifest, self.url(_join(key_prefix, MANIFEST)))}
        files[MANIFEST] = {"size": None, "sha256": None}
        return files, None

    def pull_dir(self, key_prefix: str, local_dir: PathLike) -> TransferReport:
        """Download a pushed folder into `local_dir`, every file checked against its sha256.

        Files already present and intact are kept (a rerun resumes); the manifest and the index
        are written last, so the local folder, too, is complete once they appear."""
        local_dir = Path(local_dir)
        files, index_bytes = self._read_index(key_prefix)
        order = sorted(files, key=lambda rel: (rel == MANIFEST, rel))
        report = TransferReport(files=len(order))
        for rel in order:
            check_key(rel)
            entry = files[rel]
            dest = local_dir / rel
            if entry.get("sha256") and dest.is_file() and sha256_file(dest) == entry["sha256"]:
                report.skipped += 1
                continue
            self.get_file(_join(key_prefix, rel), dest, sha256=entry.get("sha256"))
            report.transferred += 1
            report.bytes += dest.stat().st_size
        local_index = local_dir / INDEX
        if index_bytes is not None and not (local_index.is_file() and local_index.read_bytes() == index_bytes):
            atomic.write_bytes(local_index, index_bytes)
        if (local_dir / MANIFEST).is_file():
            problems = _featureset_problems(local_dir)
            if problems:
                raise StorageIntegrityError(f"pulled {self.url(key_prefix)} to {local_dir} but: " + "; ".join(problems))
        return report

    def verify_dir(self, key_prefix: str = "") -> list[str]:
        """Problems of a stored folder against its index (or manifest): missing files, wrong
        sizes, content whose sha256 differs. Empty when intact. Streams, stores nothing."""
        try:
            files = self.read_index(key_prefix)
        except StorageError as exc:
            return [str(exc)]
        problems = []
        for rel, entry in sorted(files.items()):
            key = _join(key_prefix, rel)
            try:
                info = self.stat(key)
                if entry.get("size") is not None and info.size != entry["size"]:
                    problems.append(f"{self.url(key)}: {info.size} bytes, the index says {entry['size']}")
                elif entry.get("sha256") and self.checksum(key) != entry["sha256"]:
                    problems.append(f"{self.url(key)}: content does not match its sha256")
            except StorageNotFound:
                problems.append(f"{self.url(key)}: missing")
        return problems

    def verify_featureset(self, key_prefix: str = "") -> list[str]:
        """Problems of a stored feature set: no/invalid manifest, missing or altered samples."""
        check_key(key_prefix, allow_prefix=True)
        mkey = _join(key_prefix, MANIFEST)
        try:
            manifest = _load_json(self.get_bytes(mkey), self.url(mkey))
        except StorageError as exc:
            return [f"not a feature set: {exc}"]
        try:
            samples = _manifest_samples(manifest, self.url(mkey))
        except StorageIntegrityError as exc:
            return [str(exc)]
        problems = []
        for sid, sha in samples:
            key = _join(key_prefix, f"{sid}.npy")
            try:
                if self.checksum(key) != sha:
                    problems.append(f"sample {sid!r}: {self.url(key)} does not match its sha256 in the manifest")
            except StorageNotFound:
                problems.append(f"sample {sid!r}: {self.url(key)} is missing")
        if self.exists(_join(key_prefix, INDEX)):
            problems += [p for p in self.verify_dir(key_prefix) if p not in problems]
        return problems


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative posix name, path) of every file to push; skips the index and hidden temp
    files (atomic writes and partial downloads are dot-files)."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            yield rel.as_posix(), path


def _load_json(data: bytes, where: str) -> dict:
    try:
        body = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StorageIntegrityError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise StorageIntegrityError(f"{where} is not a JSON object")
    return body


def _manifest_samples(manifest: dict, where: str) -> list[tuple[str, str]]:
    """(sample id, sha256) pairs of a feature-set manifest; ids must be safe file names (a
    manifest read from a bucket must not steer downloads outside the target folder)."""
    from fcbench.codecs.featureset import FeatureSetError, check_sample_id

    samples = manifest.get("samples")
    if not isinstance(samples, list):
        raise StorageIntegrityError(f"{where}: no 'samples' list")
    out = []
    for sample in samples:
        try:
            out.append((check_sample_id(str(sample["id"])), str(sample["sha256"])))
        except (FeatureSetError, KeyError, TypeError) as exc:
            raise StorageIntegrityError(f"{where}: bad sample entry {sample!r}: {exc}") from None
    return out


def _featureset_problems(folder: Path) -> list[str]:
    from fcbench.codecs.featureset import FeatureSet, FeatureSetError

    try:
        return FeatureSet.open(folder).verify()
    except (FeatureSetError, TypeError, KeyError) as exc:
        return [f"{folder / MANIFEST}: {exc}"]


# ---- local folders -----------------------------------------------------------------------
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

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return (self.root / key).as_uri() if key else self.root.as_uri()

    def _put_stream(self, key: str, stream: IO[bytes], length: int, sha256: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                while chunk := stream.read(CHUNK):  # the verifying reader stops at `length`
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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


# ---- entry points ------------------------------------------------------------------------
def is_remote(uri: str) -> bool:
    return str(uri).startswith("s3://")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> ("bucket", "a/b")."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"{uri!r} is not an s3://bucket[/prefix] URI")
    return parsed.netloc, parsed.path.lstrip("/")


def _local_path(uri: str) -> Path:
    parsed = urlparse(str(uri))
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StorageError(f"{uri!r}: file:// URIs must be local (file:///abs/path)")
        return Path(unquote(parsed.path))
    if "://" in str(uri):
        raise StorageError(f"{uri!r}: unsupported storage scheme {parsed.scheme!r} (use a local path, file:// or s3://)")
    return Path(uri)


def open_storage(uri: str, config: Optional[StorageConfig] = None) -> Storage:
    """A LocalStorage for a path or file:// URI, an S3Storage for s3://bucket[/prefix]."""
    uri = str(uri)
    if is_remote(uri):
        from fcbench.components.storage_s3 import S3Storage

        bucket, prefix = split_s3_uri(uri)
        return S3Storage(bucket, prefix, config or StorageConfig.from_env())
    return LocalStorage(_local_path(uri))


def _s3_root_and_key(uri: str, config: Optional[StorageConfig]) -> tuple[Storage, str]:
    bucket, key = split_s3_uri(uri)
    return open_storage(f"s3://{bucket}", config), key


def stage(uri: PathLike, cache_dir: PathLike, config: Optional[StorageConfig] = None) -> Path:
    """A local path holding the content of `uri`, for the pure layers that take paths.

    Local paths are returned as they are (they must exist). An `s3://` object is downloaded to
    `cache_dir/<bucket>/<key>`, an `s3://` folder (pushed with push_dir, or a feature set) is
    pulled there; what is already cached and intact (sha256) is reused, the rest fetched."""
    uri = str(uri)
    if not is_remote(uri):
        path = _local_path(uri)
        if not path.exists():
            raise StorageNotFound(f"cannot stage {uri}: {path} does not exist")
        return path
    root, key = _s3_root_and_key(uri, config)
    bucket = split_s3_uri(uri)[0]
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
        folder = _local_path(uri)
        if not (folder / MANIFEST).is_file():
            return [f"not a feature set: {folder / MANIFEST} is missing"]
        return _featureset_problems(folder)
    return open_storage(uri, config).verify_featureset("")


def __getattr__(name: str):
    # S3Storage lives in storage_s3 (it imports minio); expose it here without an eager import.
    if name == "S3Storage":
        from fcbench.components.storage_s3 import S3Storage

        return S3Storage
    raise AttributeError(name)
