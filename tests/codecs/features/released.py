"""Files as the released feature test set holds them (np.save of one (N, C, H, W) feature)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_released(folder: Path, name: str, shape: tuple[int, ...], dtype=np.float32, seed: int = 0) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(seed).normal(0, 3, shape).astype(dtype)
    np.save(folder / f"{name}.npy", x)
    return x
