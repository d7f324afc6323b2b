"""Feature fidelity of a reconstruction: the one feature MSE definition, and the feature PSNR
made from it. The sweep measures both per sample; reports, the evaluate stage and
`Machine.evaluate(reference=...)` use these same numbers (a set's feature MSE is the mean over
samples of the per-sample MSE, docs/test-conditions.md §2).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

_STEP = 1 << 20  # points per step: float64 temporaries of a few MB, whatever the sample's size


def mean_squared_difference(a: np.ndarray, b: np.ndarray) -> float:
    """mean((a - b)^2) over every point, accumulated in float64, a step of points at a time
    (a 256 MiB sample would need four float64 copies, 2 GB, in one go)."""
    if a.shape != b.shape:
        raise ValueError(f"reconstruction shape {b.shape} != reference {a.shape}")
    flat_a, flat_b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    if flat_a.size == 0:
        return float("nan")
    total = 0.0
    for start in range(0, flat_a.size, _STEP):
        diff = flat_a[start:start + _STEP].astype(np.float64) - flat_b[start:start + _STEP].astype(np.float64)
        total += float(np.sum(np.square(diff)))  # as np.mean sums: equal to it for one step
    return total / flat_a.size


def sample_mse(reference: np.ndarray, reconstruction: np.ndarray) -> float:
    """mean((reference - reconstruction)^2) over every point, accumulated in float64."""
    return mean_squared_difference(np.asarray(reference), np.asarray(reconstruction))


def sample_psnr(reference: np.ndarray, mse: float) -> Optional[float]:
    """Feature PSNR in dB: 10 log10(peak^2 / MSE) with the peak = the reference sample's own
    dynamic range (max - min), so it does not depend on any codec's truncation range. None when
    it is infinite (a lossless reconstruction) or undefined (a constant reference)."""
    ref = np.asarray(reference)
    peak = float(ref.max()) - float(ref.min())
    if mse <= 0 or peak <= 0:
        return None
    return 10.0 * math.log10(peak * peak / mse)
