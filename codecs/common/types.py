"""Type names shared by every layer, and the one name of a rate point: one definition each."""
from __future__ import annotations

import math
import numbers
import re
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, Path]


class BadArgument(ValueError):
    """A request that cannot work as given: it names something that does not exist, or a value out
    of range (an unknown codec, model or task, a rate point outside the codec's range). The command
    line reports it as a usage error (exit status 2)."""


class UnknownName(BadArgument, KeyError):
    """A codec, machine or test condition name that is not known (a KeyError too, for lookups)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""

# A codec's rate point: an int QP for block codecs (VTM, VVenC, x265, bypass), a float lambda for
# learned ones (the hyperprior). The int/float distinction is meaningful (see rate_tag).
RatePoint = Union[int, float]


def rate_tag(rate_point: RatePoint, unit: Optional[str] = None) -> str:
    """The folder / storage-key name of a rate point: `qp32` for an integer QP, `lambda0.0018` for
    a float lambda (so the two never collide and sort readably); with the codec's unit
    (`Codec.rate_unit`), `<unit><value>`: `crf33` for AV1's CRF 33. ValueError for anything else."""
    if isinstance(rate_point, bool) or not isinstance(rate_point, numbers.Real):
        raise ValueError(f"rate point must be an int (QP) or a float (lambda), got {rate_point!r}")
    integral = isinstance(rate_point, numbers.Integral)
    if unit is None:
        unit = "qp" if integral else "lambda"
    if not re.fullmatch(r"[a-z][a-z0-9_]*", unit):
        raise ValueError(f"rate unit {unit!r} must be a lowercase word (qp, crf, lambda...)")
    if integral:
        if int(rate_point) < 0:
            raise ValueError(f"a rate point ({unit}) cannot be negative, got {rate_point!r}")
        return f"{unit}{int(rate_point)}"
    if not (math.isfinite(rate_point) and rate_point > 0):
        raise ValueError(f"a float rate point ({unit}) must be a positive finite float, got {rate_point!r}")
    return f"{unit}{float(rate_point):g}"


def point_name(label: str, rate_point: Optional[RatePoint], unit: Optional[str] = None) -> str:
    """The one name of an RD point: `<label>@<rate_tag>` (x265@qp32, av1@crf33,
    hyperprior@lambda0.01, x265+side@qp27); the label alone for a point without a rate point (the
    uncompressed features). Used by folder-independent names: KFP metrics of the coding and
    evaluate tasks, MLflow run names. An integral float of a unit other than lambda is the int
    KFP turned into a float (a loop item's 32 arrives as 32.0)."""
    if rate_point is None:
        return label
    if isinstance(rate_point, float) and rate_point.is_integer() and unit not in (None, "lambda"):
        rate_point = int(rate_point)
    return f"{label}@{rate_tag(rate_point, unit)}"
