"""Command-line inputs given as object-storage URIs are staged to local copies first: the
codec and machine layers are pure and take local paths."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

REMOTE_SCHEMES = ("s3://",)


def stage_cache() -> Path:
    """Where staged inputs are kept (FCBENCH_STAGE_DIR, default ~/.cache/fcbench/stage)."""
    return Path(os.environ.get("FCBENCH_STAGE_DIR", Path.home() / ".cache" / "fcbench" / "stage"))


def stage_inputs(args: argparse.Namespace, *names: str) -> None:
    """Replace each named argument that holds a remote URI by its staged local path."""
    from fcbench.components.runtime import local_path

    for name in names:
        value = getattr(args, name, None)
        if isinstance(value, (str, Path)) and str(value).startswith(REMOTE_SCHEMES):
            setattr(args, name, str(local_path(str(value), stage_cache())))
