"""Type names shared by every layer, and the one name of a rate point: one definition each."""
from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Union

PathLike = Union[str, Path]

# A codec's rate point: an int QP for block codecs (VTM, VVenC, x265, bypass), a float lambda for
# learned ones (the hyperprior). The int/float distinction is meaningful (see rate_tag).
RatePoint = Union[int, float]


def rate_tag(rate_point: RatePoint) -> str:
    """The folder / storage-key name of a rate point: `qp32` for an integer QP, `lambda0.0018` for
    a float lambda (so the two never collide and sort readably). ValueError for anything else."""
    if isinstance(rate_point, bool) or not isinstance(rate_point, numbers.Real):
        raise ValueError(f"rate point must be an int (QP) or a float (lambda), got {rate_point!r}")
    if isinstance(rate_point, numbers.Integral):
        if int(rate_point) < 0:
            raise ValueError(f"a QP cannot be negative, got {rate_point!r}")
        return f"qp{int(rate_point)}"
    if not (math.isfinite(rate_point) and rate_point > 0):
        raise ValueError(f"lambda must be a positive finite float, got {rate_point!r}")
    return f"lambda{float(rate_point):g}"
