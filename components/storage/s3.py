"""S3Storage: `s3://bucket/prefix` through the minio client (MinIO or any S3 endpoint).

Every failure becomes a StorageError subclass whose message names the endpoint and bucket:
unreachable endpoint (fast: short connect timeout, few retries), refused credentials, missing
bucket, missing key. Uploads above `part_size` are multipart; minio aborts the multipart upload
when anything fails, so an interrupted upload leaves nothing visible and a retry starts clean.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import IO, Iterator, Optional
from xml.etree import ElementTree

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import check_bucket_name
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.util import Retry, Timeout

from fcbench.codecs.common import settings
from fcbench.components.storage.base import CHUNK, ObjectInfo, Storage
from fcbench.components.storage.config import StorageConfig
from fcbench.components.storage.deadline import Deadline, DeadlinePoolManager
from fcbench.components.storage.errors import StorageAuthError, StorageError, StorageNotFound, StorageUnreachable
from fcbench.components.storage.keys import check_key

_AUTH_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidSecurity"}
_MISSING_KEY_CODES = {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}
_META_SHA = "x-amz-meta-sha256"


class S3Storage(Storage):
    def __init__(self, bucket: str, prefix: str = "", config: Optional[StorageConfig] = None):
        self.config = config or StorageConfig.from_env()
        netloc, secure = self.config.resolve_endpoint()
        self.endpoint = f"{'https' if secure else 'http'}://{netloc}"
        try:
            check_bucket_name(bucket, strict=True)
        except ValueError as exc:
            raise StorageError(f"invalid bucket name {bucket!r}: {exc}") from None
        self.bucket = bucket
        check_key(prefix, allow_prefix=True)
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.uri = f"s3://{bucket}/{self.prefix}"
        if self.config.part_size < 5 * (1 << 20):
            raise StorageError(f"part_size {self.config.part_size} is below the S3 minimum of 5 MiB")
        cfg = self.config
        # Two clients: requests a live server answers at once (stat, list, delete) wait
        # read_timeout, so a hung endpoint is found in seconds; uploads and downloads wait
        # transfer_timeout, as a server assembles a large multipart object before it answers.
        # Every request also ends within that time plus its body's size at min_rate (deadline.py).
        self._pools: list[DeadlinePoolManager] = []
        self._client = self._minio(netloc, secure, cfg.read_timeout)
        self._transfer_client = self._minio(netloc, secure, cfg.transfer_timeout)

    def _minio(self, netloc: str, secure: bool, read_timeout: float) -> Minio:
        cfg = self.config
        http = DeadlinePoolManager(
            # the connect and the first byte may each take their full timeout; the body as long again
            Deadline(base=cfg.connect_timeout + 2 * read_timeout, min_rate=cfg.min_rate_kib * 1024.0),
            timeout=Timeout(connect=cfg.connect_timeout, read=read_timeout),
            maxsize=max(10, cfg.parallel_uploads + 2),
            cert_reqs="CERT_REQUIRED",
            ca_certs=str(settings.SSL_CERT_FILE.get() or certifi.where()),
            retries=Retry(total=cfg.retries, connect=cfg.retries, read=cfg.retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        self._pools.append(http)
        return Minio(netloc, access_key=cfg.access_key, secret_key=cfg.secret_key, secure=secure, region=cfg.region,
                     http_client=http)

    def _cut_by_deadline(self) -> bool:
        """Was a request of this thread cut by its deadline (and so failed as a broken connection)?"""
        return any([pool.expiries.pop() for pool in self._pools])  # a list: every pool's record is cleared

    def __repr__(self) -> str:
        return f"S3Storage({self.uri!r}, endpoint={self.endpoint!r})"

    # -- error mapping ---------------------------------------------------------------------
    def _where(self, key: Optional[str]) -> str:
        target = f"s3://{self.bucket}/{self.prefix}{key}" if key is not None else f"bucket {self.bucket!r}"
        return f"{target} on {self.endpoint}"

    @contextmanager
    def _errors(self, op: str, key: Optional[str] = None) -> Iterator[None]:
        self._cut_by_deadline()  # forget cuts from before this operation
        try:
            with self._mapped_errors(op, key):
                yield
        except StorageError:
            if not self._cut_by_deadline():
                raise
            cfg = self.config
            raise StorageUnreachable(
                f"{op} {self._where(key)}: {self.endpoint} did not finish answering in time (a request gets its "
                f"timeouts plus its size at {cfg.min_rate_kib} KiB/s, FCBENCH_S3_MIN_RATE; tried {1 + cfg.retries} "
                "times): the endpoint, or something between, is stalling") from None

    @contextmanager
    def _mapped_errors(self, op: str, key: Optional[str]) -> Iterator[None]:
        where = self._where(key)
        try:
            yield
        except S3Error as exc:
            if exc.code in _AUTH_CODES:
                who = f"access key {self.config.access_key!r}" if self.config.access_key else "anonymous access"
                raise StorageAuthError(
                    f"{op} {where}: the endpoint refused {who} ({exc.code}: {exc.message}); "
                    "check FCBENCH_S3_ACCESS_KEY / FCBENCH_S3_SECRET_KEY"
                ) from None
            if exc.code == "NoSuchBucket":
                raise StorageNotFound(f"{op} {where}: bucket {self.bucket!r} does not exist") from None
            if exc.code in _MISSING_KEY_CODES:
                raise StorageNotFound(f"{op} {where}: no such object") from None
            raise StorageError(f"{op} {where}: {exc.code}: {exc.message}") from exc
        except (MaxRetryError, NewConnectionError, ConnectTimeoutError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise StorageUnreachable(f"{op} {where}: cannot reach the S3 endpoint {self.endpoint} ({reason})") from None
        except urllib3.exceptions.HTTPError as exc:
            raise StorageError(f"{op} {where}: the connection to {self.endpoint} broke ({type(exc).__name__}: {exc})") from exc
        except (InvalidResponseError, ServerError, MinioException) as exc:
            raise StorageError(f"{op} {where}: {exc}") from exc
        except ElementTree.ParseError as exc:  # an answer that is not S3's XML (a proxy, a fake)
            raise StorageError(f"{op} {where}: {self.endpoint} answered with something that is not an S3 "
                               f"response ({exc})") from None

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    # -- primitives ------------------------------------------------------------------------
    def stat(self, key: str) -> ObjectInfo:
        try:
            with self._errors("stat", key):
                st = self._client.stat_object(self.bucket, self._name(key))
        except StorageNotFound:
            # A HEAD on a missing bucket reports NoSuchKey: say which one is missing.
            self.check_bucket()
            raise
        return ObjectInfo(key, int(st.size or 0), st.metadata.get(_META_SHA) if st.metadata else None, str(st.etag))

    def check_bucket(self) -> None:
        """StorageNotFound (or Auth/Unreachable) unless the bucket exists and is accessible."""
        with self._errors("check"):
            if not self._client.bucket_exists(self.bucket):
                raise StorageNotFound(f"bucket {self.bucket!r} does not exist on {self.endpoint}")

    def ensure_bucket(self) -> None:
        """Create the bucket when it is missing (the CLI's --create-bucket)."""
        with self._errors("create"):
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket, location=self.config.region)

    def ls(self, prefix: str = "") -> list[str]:
        check_key(prefix, allow_prefix=True)
        with self._errors("list", prefix):
            objects = list(self._client.list_objects(self.bucket, prefix=self.prefix + prefix, recursive=True))
        return sorted(o.object_name[len(self.prefix):] for o in objects if not o.is_dir)

    def _upload_prefix(self, key_prefix: str) -> str:
        check_key(key_prefix, allow_prefix=True)
        return self.prefix + (key_prefix.strip("/") + "/" if key_prefix.strip("/") else "")

    def incomplete_uploads(self, key_prefix: str = "") -> list[str]:
        """Keys below the folder `key_prefix` with an incomplete multipart upload (first 1000)."""
        with self._errors("list interrupted uploads below", key_prefix):
            page = self._client._list_multipart_uploads(self.bucket, prefix=self._upload_prefix(key_prefix), max_uploads=1000)
        return sorted(u.object_name[len(self.prefix):] for u in page.uploads)

    def clean_interrupted_uploads(self, key_prefix: str = "") -> int:
        """Abort the multipart uploads left below `key_prefix` by uploads killed midway (minio
        aborts on errors it sees, not on a kill); their parts are stored, and billed, until then.
        The client's public API has no call for this: its list/abort primitives are used, page by
        page (each page's uploads are gone after the abort, so the next listing starts over)."""
        prefix = self._upload_prefix(key_prefix)
        aborted: set[str] = set()
        with self._errors("clean up interrupted uploads below", key_prefix):
            while True:
                page = self._client._list_multipart_uploads(self.bucket, prefix=prefix, max_uploads=1000)
                fresh = [u for u in page.uploads if u.upload_id not in aborted]
                for upload in fresh:
                    self._client._abort_multipart_upload(self.bucket, upload.object_name, str(upload.upload_id))
                    aborted.add(str(upload.upload_id))
                if not fresh or not page.is_truncated:
                    break
        return len(aborted)

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            self._client.remove_object(self.bucket, self._name(key))

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _put_stream(self, key: str, stream: IO[bytes], length: int, sha256: str) -> None:
        cfg = self.config
        with self._errors("upload", key):
            self._transfer_client.put_object(
                self.bucket,
                self._name(key),
                stream,
                length,
                metadata={"sha256": sha256},
                part_size=cfg.part_size if length > cfg.part_size else 0,
                num_parallel_uploads=cfg.parallel_uploads,
            )

    def _iter_chunks(self, key: str, offset: int = 0) -> Iterator[bytes]:
        with self._errors("download", key):
            response = self._transfer_client.get_object(self.bucket, self._name(key), offset=offset)
            try:
                yield from response.stream(CHUNK)
            finally:
                response.close()
                response.release_conn()
