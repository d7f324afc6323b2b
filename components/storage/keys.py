"""The object-storage key layout: where each artifact of a (model, task, label, rate point) lives.

Keys are relative to a storage root (a local folder or `s3://bucket/prefix`):

    <model>/<task>/features/                          the extracted feature set
    <model>/<task>/features/<sample>.npy              one sample of it
    <model>/<task>/<label>/<rate_tag>/bitstreams/     coded containers, one per sample
    <model>/<task>/<label>/<rate_tag>/recon/          the decoded feature set
    <model>/<task>/<label>/<rate_tag>/metrics/        task results of that rate point
    <model>/<task>/hyperprior/<lambda_tag>/           a trained hyperprior model
    <model>/<task>/klt/                               the fitted table of the klt codec (table.npz)
    reports/<run>/                                    the RD table, plot and BD-rate of a run

`rate_tag` (fcbench.codecs.common.types, the sweep's folder names too) is the rate point in its codec's
unit (`Codec.rate_unit`): `qp<QP>` for VTM-style QPs, `crf<CRF>` for AV1, `lambda<λ>` for learned
codecs; without a unit, `qp` for an integer and `lambda` for a float. Tags never collide and
sort readably. `label` is the codec and its chain as the sweep's folders name it
(fcbench.codecs.chain.folder: x265, x265+side, x265+side/6b -> x265+side-6b).
"""
from __future__ import annotations

from typing import Optional

from fcbench.codecs.chain import folder as chain_folder
from fcbench.codecs.common.names import check_name
from fcbench.codecs.common.types import RatePoint
from fcbench.codecs.common.types import rate_tag as _rate_tag

# the kinds kept per (label, rate point)
_PER_RATE_POINT = ("bitstreams", "recon", "metrics")
KINDS = ("features", *_PER_RATE_POINT, "hyperprior", "klt", "reports")


class StorageKeyError(ValueError):
    """A key or key segment that is not allowed (empty, '..', a slash inside a name...)."""


def check_segment(value: str, what: str) -> str:
    """One path segment: a model, task, sample id or run name. Segments are file names
    on local storage and key parts on S3: the one safe-name rule (fcbench.codecs.common.names)."""
    return check_name(str(value), what, StorageKeyError)


def check_key(key: str, allow_prefix: bool = False) -> str:
    """A relative key `a/b/c`: no leading slash, no empty, '.' or '..' segments, no backslash.

    With `allow_prefix`, the empty key and a trailing slash are allowed (listing prefixes)."""
    if not isinstance(key, str):
        raise StorageKeyError(f"storage key must be a string, got {type(key).__name__}")
    body = key[:-1] if allow_prefix and key.endswith("/") else key
    if body == "" and allow_prefix:
        return key
    if "\\" in body or body.startswith("/") or any(part in ("", ".", "..") for part in body.split("/")):
        raise StorageKeyError(f"invalid storage key {key!r}: use a relative 'a/b/c' key without '.', '..' or empty parts")
    return key


def rate_tag(rate_point: RatePoint, unit: Optional[str] = None) -> str:
    """fcbench.codecs.common.types.rate_tag, its errors as StorageKeyError."""
    try:
        return _rate_tag(rate_point, unit)
    except ValueError as exc:
        raise StorageKeyError(str(exc)) from None


def artifact_key(
    model: str,
    task: str,
    kind: str,
    label: Optional[str] = None,
    rate_point: Optional[RatePoint] = None,
    sample: Optional[str] = None,
    run: Optional[str] = None,
    rate_unit: Optional[str] = None,
) -> str:
    """The key (a folder prefix ending in '/', or a sample file) of one artifact.

    `sample` names one file inside a per-sample folder (`<sample>.npy` for features and recon,
    `<sample>.bin` for bitstreams); `run` is required for kind='reports' and ignores model and task;
    `rate_unit` is the codec's (default: `qp` for an integer rate point, `lambda` for a float)."""
    if kind not in KINDS:
        raise StorageKeyError(f"unknown artifact kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "reports":
        if not run:
            raise StorageKeyError("kind='reports' needs run=<run name>")
        base = f"reports/{check_segment(run, 'run')}/"
    else:
        base = f"{check_segment(model, 'model')}/{check_segment(task, 'task')}/"
        if kind == "features":
            base += "features/"
        elif kind == "hyperprior":
            if rate_point is None:
                raise StorageKeyError("kind='hyperprior' needs rate_point=<lambda>")
            if not isinstance(rate_point, float):
                raise StorageKeyError(f"a hyperprior is keyed by its lambda (a float), got {rate_point!r}")
            base += f"hyperprior/{rate_tag(rate_point)}/"
        elif kind == "klt":  # the fitted table of the klt codec (one per model and task)
            base += "klt/"
        else:
            if label is None or rate_point is None:
                raise StorageKeyError(f"kind={kind!r} needs label and rate_point")
            base += f"{chain_folder(label, StorageKeyError)}/{rate_tag(rate_point, rate_unit)}/{kind}/"
    if sample is None:
        return base
    if kind not in ("features", "bitstreams", "recon"):
        raise StorageKeyError(f"kind={kind!r} holds no per-sample files; sample= applies to features, bitstreams, recon")
    suffix = ".bin" if kind == "bitstreams" else ".npy"
    return base + check_segment(sample, "sample id") + suffix
