"""KFP parameter plumbing of the stages: JSON parameters, rate-point types, Metrics artifacts."""
from __future__ import annotations

import json
import math
from typing import Any, Optional, Union

from fcbench.codecs.common.types import RatePoint


def parse_json(text: Union[str, dict, list, None], name: str) -> Any:
    """Parse a JSON-string pipeline parameter, naming it on error ('' means empty; a value KFP
    already parsed passes as it is)."""
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


def restore_codec_options(codec: str, options: dict) -> dict:
    """Restore integer codec options: KFP loop items turn the ints of a dict into floats (an av1
    preset of 6 arrives as 6.0, which the codec refuses and which would change its identity).
    An option whose default is an int, or that is declared int or Optional[int], gets an
    integral float back as an int."""
    import inspect
    from typing import Optional

    from fcbench.codecs.registry import codec_class

    init = codec_class(codec).__init__
    try:
        params = inspect.signature(init, eval_str=True).parameters
    except Exception:  # a plug-in's annotation that names what only its type checker imports: defaults alone
        params = inspect.signature(init).parameters
    out = dict(options)
    for key, value in options.items():
        param = params.get(key)
        if param is None or not (isinstance(value, float) and value.is_integer()):
            continue
        default = param.default
        if (isinstance(default, int) and not isinstance(default, bool)) or param.annotation in (int, Optional[int]):
            out[key] = int(value)
    return out


def log_metrics(artifact: Any, values: dict, keys: Optional[tuple] = None) -> None:
    """Log the finite numbers of `values` to a KFP Metrics artifact (KFP cannot store inf/NaN,
    e.g. the PSNR of a lossless reconstruction)."""
    for key in keys or tuple(values):
        v = values.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            artifact.log_metric(key, float(v))
