"""Free-form encoder parameters (`extra_params`) of the in-process codecs, and the one rule they obey.

The rate point is the only thing that sets the rate. An extra parameter that sets the rate, the
quantizer or how it adapts (rate control), or one that fcbench fixes so that a rate point means
the same for every frame, would make the container, the cache key and every result say one rate
point while the stream was coded at another. Such parameters are refused when the codec is
built, naming the parameter and why; everything else passes through to the encoder.
"""
from __future__ import annotations

import re
from typing import Mapping

_FORMAT = re.compile(r"[A-Za-z0-9_-]+=[^:]+(:[A-Za-z0-9_-]+=[^:]+)*")


def parameter_name(key: str) -> str:
    """The name an encoder understands: x265 and SVT-AV1 treat '_' as '-', x265 reads
    `no-NAME` as NAME switched off (it still sets NAME)."""
    name = key.strip().lower().replace("_", "-")
    return name[3:] if name.startswith("no-") else name


def parse_extra_params(codec: str, text: str, reserved: Mapping[str, str]) -> list[tuple[str, str]]:
    """`key=value:key=value` -> [(key, value)], refusing every key in `reserved` (name -> why)."""
    if not isinstance(text, str):
        raise ValueError(f"{codec} extra_params must be a string 'key=value:key=value', got {text!r}")
    if not text:
        return []
    if not _FORMAT.fullmatch(text):
        raise ValueError(f"{codec} extra_params must look like 'key=value:key=value', got {text!r}")
    pairs = [tuple(item.split("=", 1)) for item in text.split(":")]
    for key, _ in pairs:
        why = reserved.get(parameter_name(key))
        if why is not None:
            raise ValueError(f"{codec} extra_params may not set {key!r}: {why}. The rate point is the only "
                             f"rate setting; options that change the rate control are refused")
    return [(k, v) for k, v in pairs]


def reasons(names: str, why: str) -> dict[str, str]:
    """{name: why} for a whitespace-separated list of parameter names."""
    return {name: why for name in names.split()}
