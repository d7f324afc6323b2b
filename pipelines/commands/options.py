"""Parsing shared by the commands: `--option KEY=VALUE` pairs and scalar-or-per-channel ranges."""
from __future__ import annotations

import json
from typing import Any, Optional, Union


def parse_value(text: str) -> Any:
    """JSON when it parses (3, 0.5, [9,19], true, {"a": 1}), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_options(items: Optional[list[str]]) -> dict[str, Any]:
    """KEY=VALUE strings -> keyword options (dashes in keys become underscores)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise ValueError(f"--option {item!r}: expected KEY=VALUE (a key=value pair)")
        out[key] = parse_value(value)
    return out


def scalar_or_list(values: Optional[list[float]]) -> Union[None, float, list[float]]:
    """One value -> a scalar range, several -> per-channel (per C index) ranges."""
    if values is None:
        return None
    return values[0] if len(values) == 1 else values
