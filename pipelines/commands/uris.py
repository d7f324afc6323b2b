"""Command-line inputs given as object-storage URIs are staged to local copies first: the
codec and machine layers are pure and take local paths."""
from __future__ import annotations

import argparse
from pathlib import Path

REMOTE_SCHEMES = ("s3://",)


def stage_inputs(args: argparse.Namespace, *names: str) -> None:
    """Replace each named argument that holds a remote URI by its staged local path (in
    FCBENCH_STAGE_DIR, as pipeline tasks do)."""
    from fcbench.components.inputs import local_path

    for name in names:
        value = getattr(args, name, None)
        if isinstance(value, (str, Path)) and str(value).startswith(REMOTE_SCHEMES):
            setattr(args, name, str(local_path(str(value))))
