"""Learned feature codecs (CompressAI hyperprior family): model, codec, training.

Public, stable API:
    get_codec("hyperprior", checkpoint=PATH | checkpoints={lambda: PATH}, device="cpu")
    train(features, out_dir, lmbda, *, crop, epochs, steps, batch_size, lr, aux_lr, seed,
          val_fraction, low, high, layout, task, arch, N, M, device, evaluate, resume,
          progress) -> TrainResult
    build_training_sets(features_dir, out_train, out_val, val_fraction, seed)
    sample_training_sets(machine, data, out_dir, val_fraction, seed)
    ModelConfig, build_model, ARCHITECTURES, load_checkpoint, plot_curves

Names resolve lazily so that `import fcbench.codecs.hyperprior` does not import torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "train": "training", "TrainResult": "training", "rd_loss": "training", "load_curves": "training",
    "build_training_sets": "data", "sample_training_sets": "data", "CropDataset": "data", "to_frame": "data",
    "ModelConfig": "model", "build_model": "model", "ARCHITECTURES": "model",
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint", "CheckpointError": "checkpoint",
    "plot_curves": "plot", "HyperpriorCodec": "codec",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
