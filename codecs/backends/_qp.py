"""Rate points of block codecs: integer quantizers (QPs, CRFs)."""
from __future__ import annotations

import numpy as np

from fcbench.codecs.protocol import RatePoint


def check_qp(codec: str, rate_point: RatePoint, low: int, high: int, unit: str = "QP") -> None:
    """Rate points of block codecs are integer quantizers (QPs; AV1: CRFs) in [low, high]."""
    if isinstance(rate_point, bool) or not isinstance(rate_point, (int, np.integer)):
        raise ValueError(f"{codec} rate point must be an integer {unit}, got {rate_point!r}")
    if not low <= int(rate_point) <= high:
        raise ValueError(f"{codec} {unit} {rate_point} outside [{low}, {high}]")
