"""Raw 4:0:0 (luma-only) YUV frames: 8-bit as bytes, >8-bit as little-endian uint16."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _sample_dtype(bit_depth: int) -> np.dtype:
    if not 1 <= bit_depth <= 16:
        raise ValueError(f"bit_depth must be in 1..16, got {bit_depth}")
    return np.dtype(np.uint8) if bit_depth <= 8 else np.dtype("<u2")


def frame_to_bytes(frame: np.ndarray, bit_depth: int) -> bytes:
    """Serialise a 2-D integer frame; samples must fit in `bit_depth` bits."""
    frame = np.asarray(frame)
    if frame.ndim != 2:
        raise ValueError(f"a 4:0:0 frame is 2-D, got shape {frame.shape}")
    if frame.size and (int(frame.min()) < 0 or int(frame.max()) >= 2**bit_depth):
        raise ValueError(f"samples outside [0, {2**bit_depth - 1}] for {bit_depth}-bit video")
    return frame.astype(_sample_dtype(bit_depth), copy=False).tobytes()


def frame_from_bytes(data: bytes, rows: int, cols: int, bit_depth: int) -> np.ndarray:
    """Parse one frame; raises if `data` is not exactly one rows x cols frame of `bit_depth`-bit
    samples (a 16-bit frame read as 10-bit has the right size but samples above 1023)."""
    dtype = _sample_dtype(bit_depth)
    expected = rows * cols * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"raw frame has {len(data)} bytes, expected {expected} for {rows}x{cols} at {bit_depth} bit")
    frame = np.frombuffer(data, dtype=dtype).reshape(rows, cols).astype(np.uint16)
    peak = int(frame.max()) if frame.size else 0
    if peak >= 2**bit_depth:
        raise ValueError(f"raw frame holds sample value {peak}, beyond {bit_depth}-bit (max {2**bit_depth - 1}): "
                         "was it written at another bit depth?")
    return frame


def write_yuv400(path: str | Path, frame: np.ndarray, bit_depth: int) -> None:
    Path(path).write_bytes(frame_to_bytes(frame, bit_depth))


def read_yuv400(path: str | Path, rows: int, cols: int, bit_depth: int) -> np.ndarray:
    try:
        return frame_from_bytes(Path(path).read_bytes(), rows, cols, bit_depth)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
