"""Feature fidelity of a reconstruction: the one feature MSE definition, and the feature PSNR
made from it. The sweep measures both per sample; reports, the evaluate stage and
`Machine.evaluate(reference=...)` use these same numbers (a set's feature MSE is the mean over
samples of the per-sample MSE, docs/test-conditions.md §2).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np


def sample_mse(reference: np.ndarray, reconstruction: np.ndarray) -> float:
    """mean((reference - reconstruction)^2) over every point, accumulated in float64."""
    ref = np.asarray(reference, dtype=np.float64)
    rec = np.asarray(reconstruction, dtype=np.float64)
    if ref.shape != rec.shape:
        raise ValueError(f"reconstruction shape {rec.shape} != reference {ref.shape}")
    return float(np.mean((ref - rec) ** 2))


def sample_psnr(reference: np.ndarray, mse: float) -> Optional[float]:
    """Feature PSNR in dB: 10 log10(peak^2 / MSE) with the peak = the reference sample's own
    dynamic range (max - min), so it does not depend on any codec's truncation range. None when
    it is infinite (a lossless reconstruction) or undefined (a constant reference)."""
    ref = np.asarray(reference)
    peak = float(ref.max()) - float(ref.min())
    if mse <= 0 or peak <= 0:
        return None
    return 10.0 * math.log10(peak * peak / mse)
