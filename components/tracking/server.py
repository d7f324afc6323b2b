"""Where tracking goes: the tracking URI (parameter, setting or local default) and a fail-fast probe.

MLflow's own client retries with backoff for minutes; `check_reachable` answers in seconds with a
message naming the URI.
"""
from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from fcbench.codecs.common import settings
from fcbench.codecs.common.types import PathLike

PROBE_TIMEOUT_S = 3.0


class TrackingUnavailableError(RuntimeError):
    """The tracking server cannot be reached (raised before anything is logged)."""


def sqlite_db_path(uri: str) -> Path:
    """The database file of a `sqlite:///rel` or `sqlite:////abs` URI, absolute. (urlparse keeps
    a leading `//` for the absolute form, which would turn into a file:// host name.)"""
    if not uri.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URI: {uri!r}")
    return Path(uri[len("sqlite:///"):]).resolve()


def default_tracking_uri(local_dir: Optional[PathLike] = None) -> str:
    """MLFLOW_TRACKING_URI, else a sqlite store under local_dir (or FCBENCH_MLFLOW_DIR, or ./mlflow)."""
    if settings.TRACKING_URI.get():
        return settings.TRACKING_URI.get()
    root = Path(local_dir or settings.MLFLOW_DIR.get() or "mlflow").resolve()
    return f"sqlite:///{root}/mlflow.db"


def _is_http(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https")


def check_reachable(uri: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Probe the server's /health (HTTP) or the sqlite file's folder; raise naming the URI.

    MLflow's own client retries with backoff for minutes; this answers in `timeout` seconds.
    """
    scheme = urlparse(uri).scheme
    if _is_http(uri):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                if resp.status != 200:
                    raise TrackingUnavailableError(f"MLflow server {uri} answered /health with HTTP {resp.status}")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingUnavailableError(
                f"MLflow tracking server {uri} is unreachable ({reason}). Start it or fix MLFLOW_TRACKING_URI / "
                "--mlflow; or record offline (`--offline-dir DIR` on the command line, the offline_dir pipeline "
                "parameter, on by default) and upload later with `fcbench upload-tracking DIR --mlflow URI`."
            ) from None
    elif scheme == "sqlite":
        db = sqlite_db_path(uri)
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingUnavailableError(f"cannot create the local MLflow store for {uri}: {exc}") from None
    elif scheme in ("", "file"):
        raise TrackingUnavailableError(f"tracking URI {uri!r}: MLflow 3 refuses file stores; use sqlite:///<dir>/mlflow.db or http(s)://")


def stage_tracking_uri(value: str) -> Optional[str]:
    """The MLflow tracking URI a pipeline stage logs to: the parameter, else MLFLOW_TRACKING_URI
    (set on the cluster from the endpoints ConfigMap), else None = no tracking. 'off' disables it."""
    if value == "off":
        return None
    return value or settings.TRACKING_URI.get()
