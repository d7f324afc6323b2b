"""Free-form encoder parameters (`extra_params`) of the in-process codecs, and the one rule they obey.

The rate point is the only thing that sets the rate. An extra parameter that sets the rate, the
quantizer or how it adapts (rate control), or one that fcbench fixes so that a rate point means
the same for every frame, would make the container, the cache key and every result say one rate
point while the stream was coded at another. Such parameters are refused when the codec is
built, naming the parameter and why. A name is compared as the encoder reads it (x265 drops a
leading `--`, reads `_` as `-` and `no-NAME` or `noNAME` as NAME switched off), so no spelling
slips past. Every other parameter must be one the encoder itself accepts: the codec asks it (a
probe encode of a small frame, whose warnings name each unknown name or bad value: FFmpeg's
wrappers only warn and go on without them), so a misspelt or unknown parameter is refused instead
of being written into the identity and ignored.
"""
from __future__ import annotations

import re
from typing import Callable, Mapping, Optional

_FORMAT = re.compile(r"[A-Za-z0-9_-]+=[^:]+(:[A-Za-z0-9_-]+=[^:]+)*")


def parameter_name(key: str) -> str:
    """The name SVT-AV1 reads: '_' as '-' (anything else unknown is for the encoder's probe)."""
    return key.strip().replace("_", "-")


def x265_parameter_name(key: str) -> str:
    """The name x265_param_parse reads: without a leading '--', '_' as '-', and `no-NAME` or
    `noNAME` as NAME (switched off). Case is kept: x265 compares names exactly."""
    name = key.strip()
    name = name[2:] if name.startswith("--") else name
    name = name.replace("_", "-")
    if name.startswith("no-"):
        return name[3:]
    return name[2:] if name.startswith("no") else name


def parse_extra_params(codec: str, text: str, reserved: Mapping[str, str],
                       name_of: Callable[[str], str] = parameter_name,
                       probe: Optional[Callable[[str], dict[str, str]]] = None) -> list[tuple[str, str]]:
    """`key=value:key=value` -> [(key, value)], refusing every key whose name (as the encoder
    reads it, `name_of`) is in `reserved` (name -> why), then every key the encoder rejects
    (`probe(text)` -> {key: its complaint})."""
    if not isinstance(text, str):
        raise ValueError(f"{codec} extra_params must be a string 'key=value:key=value', got {text!r}")
    if not text:
        return []
    if not _FORMAT.fullmatch(text):
        raise ValueError(f"{codec} extra_params must look like 'key=value:key=value', got {text!r}")
    pairs = [tuple(item.split("=", 1)) for item in text.split(":")]
    for key, _ in pairs:
        why = reserved.get(name_of(key))
        if why is not None:
            raise ValueError(f"{codec} extra_params may not set {key!r}: {why}. The rate point is the only "
                             f"rate setting; options that change the rate control are refused")
    rejected = probe(text) if probe is not None else {}
    if rejected:
        listed = "; ".join(f"{key!r}: {why}" for key, why in rejected.items())
        raise ValueError(f"{codec} extra_params holds parameters the encoder rejects ({listed}); it would "
                         f"code without them while the identity names them")
    return [(k, v) for k, v in pairs]


def reasons(names: str, why: str) -> dict[str, str]:
    """{name: why} for a whitespace-separated list of parameter names."""
    return {name: why for name in names.split()}
