"""Bijective reshapes of (N, C, H, W) feature tensors into one 2-D frame (no padding).

Layouts (docs/test-conditions.md §3):
  llama3  : (1, 1, L, D)        -> (L, D)
  dinov2  : (N, C, H, W)        -> (N*H, C*W)   samples stacked vertically, layers side by side
  sd3     : (1, 16, H, W)       -> (4H, 4W)     channel 4i+j -> tile (i, j)
  generic : (N, C, H, W)        -> (N*rows*H, cols*W) channels tiled into a near-square grid
                                   (rows*cols == C, rows <= cols, the most square factorisation)
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

Shape = tuple[int, int, int, int]


def _check_shape(shape: Sequence[int]) -> Shape:
    sizes = tuple(int(s) for s in shape)
    if len(sizes) != 4 or any(s <= 0 for s in sizes):
        raise ValueError(f"features must be (N, C, H, W) with positive sizes, got shape {sizes}")
    n, c, h, w = sizes
    return n, c, h, w


def grid(channels: int) -> tuple[int, int]:
    """(rows, cols) with rows*cols == channels, rows <= cols, as square as possible."""
    rows = int(math.isqrt(channels))
    while channels % rows:
        rows -= 1
    return rows, channels // rows


def _frame_llama3(shape: Shape) -> tuple[int, int]:
    n, c, h, w = shape
    if n != 1 or c != 1:
        raise ValueError(f"layout 'llama3' needs shape (1, 1, L, D), got {shape}")
    return h, w


def _frame_dinov2(shape: Shape) -> tuple[int, int]:
    n, c, h, w = shape
    return n * h, c * w


def _frame_sd3(shape: Shape) -> tuple[int, int]:
    n, c, h, w = shape
    if n != 1 or c != 16:
        raise ValueError(f"layout 'sd3' needs shape (1, 16, H, W), got {shape}")
    return 4 * h, 4 * w


def _frame_generic(shape: Shape) -> tuple[int, int]:
    n, c, h, w = shape
    rows, cols = grid(c)
    return n * rows * h, cols * w


def _pack_generic(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    rows, cols = grid(c)
    return x.reshape(n, rows, cols, h, w).transpose(0, 1, 3, 2, 4).reshape(n * rows * h, cols * w)


def _unpack_generic(frame: np.ndarray, shape: Shape) -> np.ndarray:
    n, c, h, w = shape
    rows, cols = grid(c)
    return frame.reshape(n, rows, h, cols, w).transpose(0, 1, 3, 2, 4).reshape(shape)


_FRAME_SIZE: dict[str, Callable[[Shape], tuple[int, int]]] = {
    "llama3": _frame_llama3,
    "dinov2": _frame_dinov2,
    "sd3": _frame_sd3,
    "generic": _frame_generic,
}
_PACK: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "llama3": lambda x: x[0, 0],
    "dinov2": lambda x: x.transpose(0, 2, 1, 3).reshape(x.shape[0] * x.shape[2], x.shape[1] * x.shape[3]),
    "sd3": lambda x: x.reshape(4, 4, x.shape[2], x.shape[3]).transpose(0, 2, 1, 3).reshape(4 * x.shape[2], 4 * x.shape[3]),
    "generic": _pack_generic,
}
_UNPACK: dict[str, Callable[[np.ndarray, Shape], np.ndarray]] = {
    "llama3": lambda f, s: f.reshape(s),
    "dinov2": lambda f, s: f.reshape(s[0], s[2], s[1], s[3]).transpose(0, 2, 1, 3),
    "sd3": lambda f, s: f.reshape(4, s[2], 4, s[3]).transpose(0, 2, 1, 3).reshape(s),
    "generic": _unpack_generic,
}
LAYOUTS: tuple[str, ...] = tuple(_PACK)


def _check_layout(layout: str) -> None:
    if layout not in _PACK:
        raise ValueError(f"unknown packing layout {layout!r}; choose one of {LAYOUTS}")


def frame_size(shape: Sequence[int], layout: str) -> tuple[int, int]:
    """(rows, cols) of the frame that `pack` makes from a tensor of `shape`."""
    _check_layout(layout)
    return _FRAME_SIZE[layout](_check_shape(shape))


def pack(q: np.ndarray, layout: str) -> np.ndarray:
    """(N, C, H, W) -> contiguous 2-D frame."""
    q = np.asarray(q)
    frame_size(q.shape, layout)  # validates shape and layout
    return np.ascontiguousarray(_PACK[layout](q))


def unpack(frame: np.ndarray, shape: Sequence[int], layout: str) -> np.ndarray:
    """2-D frame -> contiguous (N, C, H, W) tensor of `shape`."""
    expected = frame_size(shape, layout)
    frame = np.asarray(frame)
    if frame.shape != expected:
        raise ValueError(
            f"frame of shape {frame.shape} does not unpack to {tuple(shape)} with layout {layout!r} "
            f"(expected frame {expected})"
        )
    return np.ascontiguousarray(_UNPACK[layout](frame, _check_shape(shape)))
