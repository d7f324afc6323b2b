"""Truncation, uniform quantization and min-max normalisation of feature tensors.

Ranges (`low`, `high`) are scalars or per-channel sequences, channel = the C index of an
(N, C, H, W) tensor by default, or any other axis (`axis=3`: the hidden channel of a token
layout, whose tensors are (N, 1, tokens, channels)). Arithmetic follows the reference: float32 tensors, Python-float ranges.
"""
from __future__ import annotations

from typing import Literal, Sequence, Union

import numpy as np

Range = Union[float, Sequence[float], np.ndarray]
QuantMode = Literal["round", "legacy"]
QUANT_MODES: tuple[str, ...] = ("round", "legacy")


def _as_float32(x: np.ndarray) -> np.ndarray:
    """A feature as float32, refused (ValueError) when it holds NaN/Inf or values float32 cannot
    hold: the one check of every transform (truncation would otherwise clip an Inf silently)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating) and x.dtype.name != "bfloat16":
        raise TypeError(f"feature must be a floating-point array, got dtype {x.dtype}")
    return to_float32(x)


def check_finite(x: np.ndarray, what: str = "feature") -> None:
    """Raise ValueError naming NaN/Inf counts: coding them would produce silent garbage."""
    if not np.all(np.isfinite(x)):
        nan, inf = int(np.isnan(x).sum()), int(np.isinf(x).sum())
        raise ValueError(f"{what} contains non-finite values ({nan} NaN, {inf} Inf)")


F32_MAX = float(np.finfo(np.float32).max)
# The narrowest span whose 16-bit scale (2^16 - 1) / (high - low) is still a finite float32.
_MIN_SPAN = (2**16 - 1) / F32_MAX


def check_ranges(low: Range, high: Range, what: str = "truncation range") -> tuple[np.ndarray, np.ndarray]:
    """(low, high) as float64 arrays, scalar or 1-D per channel, that the float32 arithmetic of
    quantize/dequantize/normalize can use: finite, high > low, and no value or span beyond
    float32 (where (x - low) or the reconstruction would overflow to Inf). ValueError otherwise,
    naming the first bad entry."""
    try:
        lo = np.asarray(low, dtype=np.float64)
        hi = np.asarray(high, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"ranges must be numbers or lists of numbers, got low={low!r} high={high!r}") from None
    if lo.ndim > 1 or hi.ndim > 1:
        raise ValueError(f"ranges must be scalars or 1-D per-channel lists, got low of shape {lo.shape}, "
                         f"high of shape {hi.shape}")
    if lo.shape != hi.shape:
        raise ValueError(f"low and high differ in length: {lo.size} vs {hi.size}")
    if lo.size == 0:
        raise ValueError("empty range lists")
    flat_lo, flat_hi = np.atleast_1d(lo), np.atleast_1d(hi)

    def where(i: int) -> str:
        return f"{what} [{flat_lo[i]:g}, {flat_hi[i]:g}]" + (f" (channel {i})" if lo.ndim else "")

    for bad, why in ((~(np.isfinite(flat_lo) & np.isfinite(flat_hi)), "is not finite"),
                     (~(flat_hi > flat_lo), "is empty: every high must exceed its low"),
                     ((np.abs(flat_lo) > F32_MAX) | (np.abs(flat_hi) > F32_MAX) | (flat_hi - flat_lo > F32_MAX),
                      f"reaches beyond float32 (|values| and high - low must stay below {F32_MAX:.4g}; the "
                      "arithmetic would overflow to Inf)"),
                     (flat_hi - flat_lo < _MIN_SPAN, f"is narrower than {_MIN_SPAN:.3g}: its float32 scale overflows")):
        if np.any(bad):
            raise ValueError(f"{where(int(np.argmax(bad)))} {why}")
    return lo, hi


def own_range(x: np.ndarray) -> tuple[float, float]:
    """(low, high) covering a feature's own values, for coding without a given range. A constant
    feature gets a span of 1 (or 1/1024 of its magnitude where 1 is below float32 precision),
    placed below the value where above it would leave float32."""
    lo, hi = float(np.min(x)), float(np.max(x))
    if hi > lo:
        return lo, hi
    span = max(1.0, abs(lo) * 2.0**-10)
    return (lo, lo + span) if lo + span <= F32_MAX else (lo - span, lo)


def to_float32(x: np.ndarray, what: str = "feature") -> np.ndarray:
    """`x` as float32 for coding. ValueError when it holds NaN/Inf (counted in its own dtype: a
    finite float64 is never called non-finite) or finite values float32 cannot hold."""
    x = np.asarray(x)
    check_finite(x, what)
    if x.size and x.dtype.itemsize > 4:
        peak = float(np.max(np.abs(x)))
        if peak > F32_MAX:
            raise ValueError(f"{what} of dtype {x.dtype} holds values up to {peak:g}, beyond float32 "
                             f"(max {F32_MAX:.4g}); features are coded as float32")
    return x.astype(np.float32, copy=False)


def channel_ranges(low: Range, high: Range, shape: Sequence[int], axis: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Broadcastable float64 (low, high) arrays for a tensor of `shape`; per-channel -> `axis`."""
    lo, hi = check_ranges(low, high)
    if lo.ndim == 1:
        if len(shape) != 4:
            raise ValueError(f"per-channel ranges need an (N, C, H, W) tensor, got shape {tuple(shape)}")
        if axis not in (1, 2, 3):
            raise ValueError(f"range axis must be 1, 2 or 3 of an (N, C, H, W) tensor, got {axis}")
        if lo.shape[0] != shape[axis]:
            where = f"C={shape[1]} channels" if axis == 1 else f"{shape[axis]} channels on axis {axis} of {tuple(shape)}"
            raise ValueError(f"{lo.shape[0]} per-channel ranges for {where}")
        bshape = [1, 1, 1, 1]
        bshape[axis] = -1
        lo = lo.reshape(bshape)
        hi = hi.reshape(bshape)
    return lo, hi


def _per_channel_apply(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, fn) -> np.ndarray:
    """Apply fn(x_slice, low_float, high_float) per channel so the arithmetic stays float32
    with Python-float constants exactly as in the reference (no float64 promotion)."""
    if lo.ndim == 0:
        return fn(x, float(lo), float(hi))
    axis = int(np.argmax(lo.shape)) if lo.size > 1 else 1
    xs = np.moveaxis(x, axis, 1)  # a view: the channel axis in place of C
    out = np.empty(xs.shape, dtype=fn(x[:1, :1, :1, :1], float(lo.flat[0]), float(hi.flat[0])).dtype)
    for c in range(xs.shape[1]):
        out[:, c] = fn(xs[:, c], float(lo.flat[c]), float(hi.flat[c]))
    return out if axis == 1 else np.ascontiguousarray(np.moveaxis(out, 1, axis))


def truncate(x: np.ndarray, low: Range, high: Range, axis: int = 1) -> np.ndarray:
    """Clip `x` to [low, high] (scalar or per-channel); returns float32."""
    x = _as_float32(x)
    lo, hi = channel_ranges(low, high, x.shape, axis)
    return _per_channel_apply(x, lo, hi, lambda v, a, b: np.clip(v, np.float32(a), np.float32(b)))


def check_bit_depth(bit_depth: int) -> int:
    """`bit_depth` as an int when it is an integer in 1..16 (a bool is not), else ValueError."""
    if isinstance(bit_depth, bool) or not isinstance(bit_depth, (int, np.integer)) or not 1 <= int(bit_depth) <= 16:
        raise ValueError(f"bit_depth must be an integer in 1..16, got {bit_depth!r}")
    return int(bit_depth)


def _check_mode(mode: str) -> None:
    if mode not in QUANT_MODES:
        raise ValueError(f"unknown quantization mode {mode!r}; choose one of {QUANT_MODES}")


def quantize(x: np.ndarray, low: Range, high: Range, bit_depth: int, mode: QuantMode = "round",
             axis: int = 1) -> np.ndarray:
    """Uniform quantization to `bit_depth` bits -> uint16 (uint8 for <= 8 bits).

    round:  clip to [low, high], q = round((x - low) * (2^b - 1) / (high - low)).
    legacy: the reference exactly: q = uint16((x - low) * (2^b - 1) / (high - low)) with no
            clipping (callers truncate first; values outside wrap around like the reference).
    """
    b = check_bit_depth(bit_depth)
    _check_mode(mode)
    x = _as_float32(x)
    check_finite(x)
    lo, hi = channel_ranges(low, high, x.shape, axis)
    levels = 2**b - 1
    out_dtype = np.uint8 if b <= 8 else np.uint16

    def one(v: np.ndarray, a: float, h: float) -> np.ndarray:
        scaled = np.subtract(v, np.float32(a))  # float32 arithmetic, as the reference
        np.multiply(scaled, np.float32(levels / (h - a)), out=scaled)
        if mode == "legacy":
            return scaled.astype(np.uint16)
        np.clip(scaled, 0, levels, out=scaled)
        np.rint(scaled, out=scaled)
        return scaled.astype(out_dtype)

    return _per_channel_apply(x, lo, hi, one)


def quantize_legacy_float16(x: np.ndarray, low: Range, high: Range, bit_depth: int, truncated: bool,
                            axis: int = 1) -> np.ndarray:
    """The reference's truncation + legacy quantization of a float16 feature (SD3's latents) in the
    reference's own arithmetic -> uint16. numpy keeps float16 where the reference computes on the
    float16 array with Python-float constants: np.clip, (x - low) and * scale all round to float16
    (a float32 computation puts about 11 % of SD3 samples one level apart). Per-channel
    truncation writes each clipped float16 channel into a float32 array, so float32 from there."""
    b = check_bit_depth(bit_depth)
    if np.asarray(x).dtype != np.float16:
        raise TypeError(f"quantize_legacy_float16 takes a float16 feature, got {np.asarray(x).dtype}")
    check_finite(x)
    lo, hi = channel_ranges(low, high, x.shape, axis)
    levels = 2**b - 1

    def floor_scaled(v: np.ndarray, a: float, h: float) -> np.ndarray:
        return ((v - a) * (levels / (h - a))).astype(np.uint16)  # in v's dtype: Python-float constants

    if lo.ndim == 0:
        a, h = float(lo), float(hi)
        return floor_scaled(np.clip(x, a, h) if truncated else x, a, h)
    if truncated:
        clipped = _per_channel_apply(x, lo, hi, lambda v, a, h: np.clip(v, a, h)).astype(np.float32)
        return _per_channel_apply(clipped, lo, hi, floor_scaled)
    return _per_channel_apply(x, lo, hi, floor_scaled)


def dequantize(q: np.ndarray, low: Range, high: Range, bit_depth: int, mode: QuantMode = "round",
               axis: int = 1) -> np.ndarray:
    """Inverse of `quantize` -> float32: q / scale + low with scale = (2^b - 1) / (high - low),
    the reference's formula in both modes (legacy keeps the floor's -step/2 bias)."""
    b = check_bit_depth(bit_depth)
    _check_mode(mode)
    q = np.asarray(q)
    if not np.issubdtype(q.dtype, np.integer):
        raise TypeError(f"quantized samples must be integers, got dtype {q.dtype}")
    lo, hi = channel_ranges(low, high, q.shape, axis)
    levels = 2**b - 1
    qf = q.astype(np.float32)
    return _per_channel_apply(qf, lo, hi, lambda v, a, h: (v / (levels / (h - a)) + a).astype(np.float32))


def normalize(x: np.ndarray, low: Range, high: Range, axis: int = 1) -> np.ndarray:
    """Min-max normalisation to [0, 1] in float32 for learned codecs (no clipping here:
    truncate first)."""
    x = _as_float32(x)
    check_finite(x)
    lo, hi = channel_ranges(low, high, x.shape, axis)
    return _per_channel_apply(x, lo, hi, lambda v, a, h: ((v - a) / (h - a)).astype(np.float32))


def denormalize(y: np.ndarray, low: Range, high: Range, axis: int = 1) -> np.ndarray:
    """Inverse of `normalize`: y * (high - low) + low, float32."""
    y = _as_float32(y)
    lo, hi = channel_ranges(low, high, y.shape, axis)
    return _per_channel_apply(y, lo, hi, lambda v, a, h: (v * (h - a) + a).astype(np.float32))
