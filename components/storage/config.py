"""How to reach an S3 endpoint: StorageConfig, from the FCBENCH_S3_* settings (never from code)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Optional
from urllib.parse import urlparse

from fcbench.codecs.common import settings
from fcbench.codecs.common.settings import SettingError
from fcbench.components.storage.errors import StorageError

MiB = 1 << 20


@dataclass(frozen=True)
class StorageConfig:
    """How to reach an S3 endpoint. `endpoint` is `host:port` or `http(s)://host:port`."""

    endpoint: Optional[str] = None
    access_key: Optional[str] = None
    secret_key: Optional[str] = field(default=None, repr=False)
    secure: Optional[bool] = None  # None: from the endpoint's scheme, else False
    region: Optional[str] = None
    # Fail fast: a dead or hung endpoint must not cost minutes of urllib3 retries (the
    # FCBENCH_S3_CONNECT_TIMEOUT / _READ_TIMEOUT / _RETRIES settings; these are their defaults).
    connect_timeout: float = settings.S3_CONNECT_TIMEOUT.default
    read_timeout: float = settings.S3_READ_TIMEOUT.default
    transfer_timeout: float = settings.S3_TRANSFER_TIMEOUT.default
    retries: int = settings.S3_RETRIES.default
    min_rate_kib: int = settings.S3_MIN_RATE.default
    part_size: int = 16 * MiB  # multipart above this size (S3 minimum part: 5 MiB)
    parallel_uploads: int = 3

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None, **overrides) -> "StorageConfig":
        """The FCBENCH_S3_* settings (fcbench.codecs.common.settings), read from `env` (default: the
        process environment)."""
        try:
            cfg = cls(
                endpoint=settings.S3_ENDPOINT.get(env),
                access_key=settings.S3_ACCESS_KEY.get(env),
                secret_key=settings.S3_SECRET_KEY.get(env),
                secure=settings.S3_SECURE.get(env),
                region=settings.S3_REGION.get(env),
                connect_timeout=settings.S3_CONNECT_TIMEOUT.get(env),
                read_timeout=settings.S3_READ_TIMEOUT.get(env),
                transfer_timeout=settings.S3_TRANSFER_TIMEOUT.get(env),
                retries=settings.S3_RETRIES.get(env),
                min_rate_kib=settings.S3_MIN_RATE.get(env),
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
            return _checked_port(raw, parsed.netloc), secure
        if "/" in raw or not raw:
            raise StorageError(f"S3 endpoint {raw!r} must be host:port or http(s)://host:port")
        return _checked_port(raw, raw), bool(self.secure)

    def endpoint_url(self) -> str:
        netloc, secure = self.resolve_endpoint()
        return f"{'https' if secure else 'http'}://{netloc}"


def _checked_port(endpoint: str, netloc: str) -> str:
    """`netloc` (host or host:port), or StorageError naming a port that is not one."""
    host, sep, port = netloc.rpartition(":")
    if not sep or host.endswith(":") or "]" in port:  # no port, or an IPv6 address without one
        return netloc
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise StorageError(f"S3 endpoint {endpoint!r}: port {port!r} is not a port number (1-65535)")
    if not host:
        raise StorageError(f"S3 endpoint {endpoint!r} has no host name")
    return netloc
