"""KFP parameter plumbing of the stages: JSON parameters, rate-point types, Metrics artifacts."""
from __future__ import annotations

import json
import math
from typing import Any, Optional

from fcbench.codecs.types import RatePoint


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


def restore_rate_point(value: RatePoint | str, integer: bool) -> RatePoint:
    """Restore a rate point's type: KFP loop items and Collected values turn ints into floats."""
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"rate point {value!r} is not finite")
    if integer:
        if not v.is_integer():
            raise ValueError(f"rate point {value!r} must be an integer (a QP)")
        return int(v)
    return v


def log_metrics(artifact: Any, values: dict, keys: Optional[tuple] = None) -> None:
    """Log the finite numbers of `values` to a KFP Metrics artifact (KFP cannot store inf/NaN,
    e.g. the PSNR of a lossless reconstruction)."""
    for key in keys or tuple(values):
        v = values.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            artifact.log_metric(key, float(v))
