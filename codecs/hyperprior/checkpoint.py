"""Hyperprior checkpoints: one torch file per (task, lambda, epoch), written atomically.

A checkpoint is a plain dict of tensors, numbers, strings and lists, so it loads with
`torch.load(weights_only=True)` (no pickled code runs when a checkpoint is opened):

    format          "fcbench-hyperprior/1"
    config          ModelConfig as a dict {arch, N, M, in_channels}
    lmbda, task     the rate point and the task it was trained for (task may be "")
    epoch, step     finished epochs / optimizer steps
    model           model state dict
    optimizer, aux_optimizer, scheduler     state dicts (absent in exported inference files)
    rng             {"torch": ByteTensor state}
    curves          per-epoch metric dicts so far
    best_val_loss   the best validation loss so far
    train           the training options (for the record and for resume checks)
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Union

from fcbench.codecs.common import atomic

FORMAT = "fcbench-hyperprior/1"
REMOTE_PREFIXES = ("s3://", "models:/", "runs:/", "gs://", "http://", "https://", "mlflow-artifacts:/")


class CheckpointError(ValueError):
    """A checkpoint that is missing, remote (not staged), corrupt or not an fcbench hyperprior."""


def local_path(path: Union[str, Path]) -> Path:
    """A local checkpoint path; a URI is refused: the components layer stages it first."""
    text = str(path)
    if text.startswith(REMOTE_PREFIXES) or "://" in text:
        raise CheckpointError(
            f"checkpoint {text!r} is a remote URI and the hyperprior codec reads local files: the fcbench "
            "commands and pipeline stages fetch such URIs first (from Python: fcbench.components.inputs.local_path)"
        )
    p = Path(text)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist or is not a file")
    return p


def save_checkpoint(path: Union[str, Path], state: dict[str, Any]) -> Path:
    """Write `state` atomically (a reader sees the old file or the whole new one)."""
    import torch  # here, not at import: the codec registry imports this module cheaply

    body = dict(state)
    body["format"] = FORMAT
    buf = io.BytesIO()
    torch.save(body, buf)
    atomic.write_bytes(path, buf.getvalue())
    return Path(path)


def unpickler_complaint(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip().startswith("Unsupported")]
    return lines[0] if lines else type(exc).__name__


def unsafe_message(path: Path) -> str:
    return (f"{path} is not a checkpoint fcbench can load safely: it holds pickled objects other than tensors "
            f"and plain data (loaded with weights_only=True, which refused them; nothing in the file was run)")


def load_checkpoint(path: Union[str, Path], map_location: Any = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint (weights_only: no code is executed)."""
    import torch

    p = local_path(path)
    try:
        state = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # not an object it refused: a damaged or foreign file
            raise CheckpointError(f"checkpoint {p} cannot be read (not a torch checkpoint: the unpickler "
                                  f"stopped at {unpickler_complaint(exc)})") from None
        raise CheckpointError(unsafe_message(p)) from None  # weights_only refused an object; nothing ran
    except Exception as exc:  # torch raises many types for a damaged file
        raise CheckpointError(f"checkpoint {p} cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{p} is not an fcbench hyperprior checkpoint (format {found!r}, want {FORMAT!r})")
    for key in ("config", "lmbda", "model"):
        if key not in state:
            raise CheckpointError(f"checkpoint {p} lacks {key!r}")
    return state
