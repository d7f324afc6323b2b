"""Helpers shared by the traditional-codec tests (imported as tests.codecs.traditional.helpers)."""
from __future__ import annotations

import numpy as np


def smooth_feature(shape: tuple[int, int, int, int], seed: int = 0, scale: float = 4.0) -> np.ndarray:
    """A feature with spatial structure (smooth fields + a little noise + a few outliers),
    closer to real activations than white noise, so rate/quality behave like on real data."""
    rng = np.random.default_rng(seed)
    n, c, h, w = shape
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    out = np.empty(shape, dtype=np.float32)
    for i in range(n):
        for j in range(c):
            fx, fy, ph = rng.uniform(1, 6, size=3)
            field = np.sin(2 * np.pi * (fx * xx + ph)) * np.cos(2 * np.pi * fy * yy)
            out[i, j] = scale * field + rng.normal(0, 0.3, size=(h, w))
    out.reshape(-1)[rng.choice(out.size, size=max(1, out.size // 500), replace=False)] *= 8
    return out
