"""Nonlinear scalar quantization: point tables fitted on sample features.

Methods: "kmeans" (1-D Lloyd with 2^b centres, initialised at the density points) and
"density" (CDF-equalising points: quantiles at (i + 0.5) / 2^b). Global (one table) or per
channel (one table per C index). Encode maps each value to a point index; decode looks it up.
"""
from __future__ import annotations

from typing import Iterable, Literal, Sequence

import numpy as np

from fcbench.codecs.chain.transforms import check_finite

Method = Literal["kmeans", "density"]
EncodeMode = Literal["nearest", "legacy"]
DEFAULT_MAX_FIT_POINTS = 2_000_000


def _subsample(values: np.ndarray, max_points: int, seed: int) -> np.ndarray:
    """Deterministic subsample (fixed-seed choice without replacement)."""
    if values.size <= max_points:
        return values
    rng = np.random.default_rng(seed)
    return values[rng.choice(values.size, size=max_points, replace=False)]


def _density_points(sorted_vals: np.ndarray, k: int) -> np.ndarray:
    qs = (np.arange(k, dtype=np.float64) + 0.5) / k
    return np.quantile(sorted_vals, qs)


def _kmeans_1d(sorted_vals: np.ndarray, k: int, iterations: int) -> np.ndarray:
    """Lloyd's algorithm on sorted 1-D data using prefix sums: O(iterations * k log n)."""
    centres = _density_points(sorted_vals, k)
    prefix = np.concatenate([[0.0], np.cumsum(sorted_vals, dtype=np.float64)])
    for _ in range(iterations):
        centres = np.unique(centres)
        bounds = (centres[1:] + centres[:-1]) / 2
        edges = np.concatenate([[0], np.searchsorted(sorted_vals, bounds), [sorted_vals.size]])
        counts = np.diff(edges)
        sums = prefix[edges[1:]] - prefix[edges[:-1]]
        new = np.where(counts > 0, sums / np.maximum(counts, 1), centres)
        if np.allclose(new, centres, rtol=0, atol=1e-9):
            centres = new
            break
        centres = new
    return centres


def _fit_table(values: np.ndarray, k: int, method: Method, iterations: int) -> np.ndarray:
    vals = np.sort(values.astype(np.float64))
    pts = _density_points(vals, k) if method == "density" else _kmeans_1d(vals, k, iterations)
    pts = np.sort(pts)
    if pts.size < k:  # fewer distinct values than levels: repeat the top point
        pts = np.concatenate([pts, np.full(k - pts.size, pts[-1])])
    return pts.astype(np.float32)


def fit_points(
    samples: Iterable[np.ndarray],
    bit_depth: int,
    method: Method = "kmeans",
    per_channel: bool = False,
    max_points: int = DEFAULT_MAX_FIT_POINTS,
    iterations: int = 30,
    seed: int = 0,
) -> np.ndarray:
    """Fit (tables, 2^b) float32 quantization points from (N, C, H, W) samples."""
    if method not in ("kmeans", "density"):
        raise ValueError(f"unknown fitting method {method!r}; choose 'kmeans' or 'density'")
    if not 1 <= bit_depth <= 16:
        raise ValueError(f"bit_depth must be in 1..16, got {bit_depth}")
    arrays = [np.asarray(s, dtype=np.float32) for s in samples]
    if not arrays:
        raise ValueError("fit_points needs at least one sample")
    for a in arrays:
        check_finite(a, "fitting sample")
    k = 2**bit_depth
    if not per_channel:
        flat = np.concatenate([a.ravel() for a in arrays])
        return _fit_table(_subsample(flat, max_points, seed), k, method, iterations)[None, :]
    channels = {a.shape[1] if a.ndim == 4 else -1 for a in arrays}
    if len(channels) != 1 or -1 in channels:
        raise ValueError("per-channel fitting needs (N, C, H, W) samples with one C")
    c = channels.pop()
    tables = []
    for ch in range(c):
        vals = np.concatenate([a[:, ch].ravel() for a in arrays])
        tables.append(_fit_table(_subsample(vals, max_points // c + 1, seed + ch), k, method, iterations))
    return np.stack(tables)


def _check_tables(x_shape: Sequence[int], points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float32)
    pts = pts[None, :] if pts.ndim == 1 else pts
    if pts.ndim != 2:
        raise ValueError(f"point tables must be (tables, levels), got shape {pts.shape}")
    if pts.shape[0] != 1 and (len(x_shape) != 4 or x_shape[1] != pts.shape[0]):
        raise ValueError(f"{pts.shape[0]} point tables do not match feature shape {tuple(x_shape)}")
    if np.any(np.diff(pts, axis=1) < 0):
        raise ValueError("quantization points must be sorted ascending")
    return pts


def _encode_table(x: np.ndarray, pts: np.ndarray, mode: EncodeMode) -> np.ndarray:
    if mode == "legacy":  # the reference: index of the last point <= x
        idx = np.digitize(x, pts) - 1
    else:
        idx = np.searchsorted((pts[1:] + pts[:-1]) / 2, x, side="right")
    return np.clip(idx, 0, pts.size - 1).astype(np.uint16)


def encode(x: np.ndarray, points: np.ndarray, mode: EncodeMode = "nearest") -> np.ndarray:
    """Map values to uint16 point indices (nearest point, or the reference's digitize - 1)."""
    if mode not in ("nearest", "legacy"):
        raise ValueError(f"unknown nonlinear encode mode {mode!r}")
    x = np.asarray(x, dtype=np.float32)
    check_finite(x)
    pts = _check_tables(x.shape, points)
    if pts.shape[0] == 1:
        return _encode_table(x, pts[0], mode)
    out = np.empty(x.shape, dtype=np.uint16)
    for c in range(pts.shape[0]):
        out[:, c] = _encode_table(x[:, c], pts[c], mode)
    return out


def decode(q: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Look point indices up in their tables -> float32."""
    q = np.asarray(q)
    pts = _check_tables(q.shape, points)
    if q.size and int(q.max()) >= pts.shape[1]:
        raise ValueError(f"index {int(q.max())} outside a table of {pts.shape[1]} points")
    if pts.shape[0] == 1:
        return pts[0][q]
    out = np.empty(q.shape, dtype=np.float32)
    for c in range(pts.shape[0]):
        out[:, c] = pts[c][q[:, c]]
    return out
