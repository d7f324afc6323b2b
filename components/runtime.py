"""Plumbing shared by the KFP components: input staging, stage error context, codec identities.

Components are thin adapters: their bodies import fcbench inside the function (KFP lightweight
component rule) and call the plain functions of their module, which use these helpers.
"""
from __future__ import annotations

import hashlib
import json
import math
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from fcbench.codecs import settings



class StageError(RuntimeError):
    """A pipeline stage failed; the message names the stage and what it was working on."""

    def __init__(self, stage: str, context: dict, cause: BaseException):
        self.stage = stage
        self.context = context
        self.cause = f"{type(cause).__name__}: {cause}"
        where = ", ".join(f"{k}={v}" for k, v in context.items() if v not in (None, ""))
        super().__init__(f"stage {stage} failed ({where}): {self.cause}")


@contextmanager
def stage_context(stage: str, **context: Any) -> Iterator[dict]:
    """Turn any failure inside into a StageError naming the stage and its context.

    The yielded dict may be updated (e.g. with the sample being processed) so the error names
    what was current when it failed. Failures are also appended to FCBENCH_ERROR_LOG, which the
    local runner reads to say which stage, sample and rate point broke the pipeline.
    """
    ctx = dict(context)
    try:
        yield ctx
    except StageError:
        raise
    except Exception as exc:
        err = StageError(stage, ctx, exc)
        _record(err)
        raise err from exc


def _record(err: StageError) -> None:
    path = settings.ERROR_LOG.get()
    if path is None:
        return
    line = json.dumps({"stage": err.stage, "context": err.context, "error": err.cause}, default=str)
    with open(path, "a") as f:  # one short line per failure: append is atomic enough here
        f.write(line + "\n")


def read_error_log(path: Union[str, Path]) -> list[dict]:
    """Failures recorded by stage_context, oldest first."""
    p = Path(path)
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def local_path(uri: str, cache_dir: Union[str, Path, None] = None, tracking: str = "") -> Path:
    """A local path for a file or folder URI: `s3://` is staged through fcbench.components.storage;
    `models:/<name>/<version>` is downloaded from the MLflow registry at `tracking` (else
    $MLFLOW_TRACKING_URI); plain paths and file:// are used in place and must exist."""
    if not uri:
        raise ValueError("empty URI")
    if uri.startswith("models:/"):
        return _registered_model(uri, cache_dir, tracking)
    if uri.startswith("s3://"):
        from fcbench.components.storage import stage

        return Path(stage(uri, Path(cache_dir) if cache_dir else settings.STAGE_DIR.get()))
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    if "://" in uri:
        raise ValueError(f"unsupported URI {uri!r}: use a local path, file://, s3:// or models:/<name>/<version>")
    path = Path(uri)
    if not path.exists():
        raise FileNotFoundError(f"{uri} does not exist")
    return path


def _registered_model(uri: str, cache_dir: Union[str, Path, None], tracking: str) -> Path:
    """The checkpoint file of a registered model version, downloaded into the stage cache."""
    server = tracking_uri(tracking)
    if not server:
        raise ValueError(f"{uri} is an MLflow registry URI but no tracking server is configured: "
                         f"pass the pipeline's tracking_uri or set MLFLOW_TRACKING_URI")
    from fcbench.components.tracking import load_registered_checkpoint

    name = uri[len("models:/"):].strip("/")
    if not name or "/" not in name:
        raise ValueError(f"{uri!r}: expected models:/<name>/<version>")
    # One folder per model version: a version's files never change, a retry reuses nothing stale.
    folder = "models-" + hashlib.sha256(f"{server}|{name}".encode()).hexdigest()[:16]
    cache = Path(cache_dir) if cache_dir else settings.STAGE_DIR.get()
    return Path(load_registered_checkpoint(uri, cache / folder, tracking_uri=server))


def parse_json(text: str, name: str) -> Any:
    """Parse a JSON-string pipeline parameter, naming it on error ('' means empty)."""
    if text is None or text == "":
        return {}
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"parameter {name} is not valid JSON ({exc}): {text[:200]!r}") from exc


def identity_hash(identity: dict) -> str:
    """sha256 of a codec identity (name, version, binary/cfg sha256, options) as canonical JSON."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def check_identity(codec: Any, expected: str) -> str:
    """Refuse to run a codec whose identity differs from the one the pipeline was given.

    The expected hash is a task input, so it is part of KFP's cache key: a different binary,
    cfg or option then means a different key, never a stale cached result.
    """
    actual = identity_hash(codec.identity)
    if not expected:
        raise ValueError(
            f"codec {codec.identity.get('name')!r}: no codec identity given; pass the identity hash "
            f"({actual} here) so KFP caching cannot return results of another build"
        )
    if expected != actual:
        raise ValueError(
            f"codec {codec.identity.get('name')!r} in this image has identity {actual}, the pipeline "
            f"was given {expected}: the binary, cfg or options differ (identity: {codec.identity})"
        )
    return actual


def rate_point(value: Union[int, float, str], integer: bool) -> Union[int, float]:
    """Restore a rate point's type: KFP loop items and Collected values turn ints into floats."""
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"rate point {value!r} is not finite")
    if integer:
        if not v.is_integer():
            raise ValueError(f"rate point {value!r} must be an integer (a QP)")
        return int(v)
    return v


def tracking_uri(value: str) -> Optional[str]:
    """The MLflow tracking URI a stage logs to: the parameter, else $MLFLOW_TRACKING_URI (set on
    the cluster from the endpoints ConfigMap), else None = no tracking. 'off' disables it."""
    if value == "off":
        return None
    return value or settings.TRACKING_URI.get()


def log_metrics(artifact: Any, values: dict, keys: Optional[tuple] = None) -> None:
    """Log the finite numbers of `values` to a KFP Metrics artifact (KFP cannot store inf/NaN,
    e.g. the PSNR of a lossless reconstruction)."""
    for key in keys or tuple(values):
        v = values.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            artifact.log_metric(key, float(v))
