"""Test helper: a hyperprior checkpoint without training (any codec test can code with it)."""
from __future__ import annotations

from pathlib import Path


def write_untrained_checkpoint(path: Path, lmbda: float = 0.01) -> Path:
    """A freshly initialised tiny model (N=M=8, seed 0) saved as a checkpoint at `path`."""
    import torch

    from fcbench.codecs.hyperprior import ModelConfig, build_model, save_checkpoint

    cfg = ModelConfig(N=8, M=8)
    torch.manual_seed(0)  # weights only; no compute worth limiting threads for
    net = build_model(cfg)
    save_checkpoint(path, {"config": cfg.as_dict(), "lmbda": lmbda, "task": "", "epoch": 0, "model": net.state_dict()})
    return path
