"""Parsing shared by the commands: `--option KEY=VALUE` pairs, scalar-or-per-channel ranges,
the training-setting flags, and output paths checked when the command line is parsed (a file
where a folder goes, or the reverse)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
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


def add_training_flags(parser: Union[argparse.ArgumentParser, argparse._ArgumentGroup]) -> None:
    """One flag per training setting (fcbench.codecs.hyperprior.training_settings); not given =
    unset = the test conditions' value where they define it."""
    from fcbench.codecs.hyperprior.training_settings import TRAINING_SETTINGS, VALIDATIONS

    for s in TRAINING_SETTINGS:
        flags = [f"--{s.name.replace('_', '-')}"] + (["--batch"] if s.name == "batch_size" else [])
        kw: dict[str, Any] = {"dest": s.name, "default": None, "help": s.help}
        if s.type is list:
            kw.update(type=int, nargs=2, metavar=("ROWS", "COLS"))
        elif s.name == "evaluate":
            kw.update(choices=("last", "best"))
        elif s.name == "validation":
            kw.update(choices=VALIDATIONS)
        else:
            kw.update(type=s.type)
        parser.add_argument(*flags, **kw)


def training_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings given on the command line (unset ones are left out)."""
    from fcbench.codecs.hyperprior.training_settings import TRAINING_SETTINGS

    given = {s.name: getattr(args, s.name, None) for s in TRAINING_SETTINGS}
    return {name: (list(v) if isinstance(v, (list, tuple)) else v) for name, v in given.items() if v is not None}


def bit_depth(text: str) -> int:
    """argparse type of a sample bit depth: an integer 1..16 (the transforms' own check)."""
    from fcbench.codecs.chain.transforms import check_bit_depth

    try:
        return check_bit_depth(int(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc) if text.strip().lstrip("-").isdigit() else
                                         f"bit depth must be an integer 1..16, got {text!r}") from None


def _path(text: str, what: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError(f"an empty {what} name (it would write into the current folder)")
    return Path(text)


def output_folder(text: str) -> Path:
    """argparse type of an output folder: it may not exist yet, but it may not be a file."""
    path = _path(text, "output folder")
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a file; give a folder (existing or new)")
    return path


def output_file(text: str) -> Path:
    """argparse type of an output file: it may exist (it is replaced), but not as a folder."""
    path = _path(text, "output file")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; give a file name")
    return path
