"""The outlier side channel of the coding chain.

Large-model features are heavy-tailed: a few channels carry values far outside any useful
truncation range, and clipping them, not the frame codec, then sets the distortion. The side
channel sends every value outside the truncation range apart from the frame: its position and
its excess over the range bound, quantized with a stated precision. The frame codec still codes
the truncated frame; the decoder overwrites the outlier positions with `bound + k * step`.

    step  = (high - low) / (2^bits - 1) of the value's channel (bits = the frame's bit depth by
            default, so an outlier is as precise as an in-range value)
    k     = round((x - clip(x)) / step), sent when k != 0 (|excess| >= step / 2); the sign of
            k says which bound

Positions are flat indices with the channel axis outermost (`position_axis`, stored), so the
outliers of one massive channel are close together; they are sent as gaps (LEB128 varints).
Values are zig-zag varints of k, delta-coded within a channel. Each stream is stored raw, as
zstd or as raw LZMA2, whichever is smallest (measured on MiniLM hidden states: zstd wins
below ~1000 outliers, LZMA2 above; both 2-3x smaller than Golomb-Rice of the gaps, whose
distribution is not geometric; docs/codecs.md).

Section layout: u8 format (1) | u8 position axis | u8 bits | u32 count | positions stream |
values stream, each stream u8 method (0 raw, 1 zstd, 2 lzma) + u32 length + bytes.
"""
from __future__ import annotations

import lzma
import struct
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import zstandard

from fcbench.codecs.chain.container import ContainerError
from fcbench.codecs.chain.transforms import Range, channel_ranges

SECTION_FORMAT = 1
_RAW, _ZSTD, _LZMA = 0, 1, 2
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9}]
_MAX_VARINT = 10  # bytes of a 64-bit LEB128 varint


class OutlierError(ContainerError):
    """A side channel that cannot be decoded (corrupt, truncated or inconsistent)."""


@dataclass(frozen=True)
class Outliers:
    """Outliers of one tensor: flat positions (channel axis outermost, increasing) and the
    signed number of steps k of each excess over its bound."""

    positions: np.ndarray  # int64
    steps: np.ndarray  # int64, never 0
    position_axis: int
    bits: int

    def __len__(self) -> int:
        return int(self.positions.size)


# ---- varints ---------------------------------------------------------------------------------
def _varint_encode(values: np.ndarray) -> bytes:
    v = np.asarray(values, dtype=np.uint64)
    if v.size == 0:
        return b""
    nbytes = np.ones(v.size, dtype=np.int64)
    for i in range(1, _MAX_VARINT):
        nbytes += (v >> np.uint64(7 * i)) > 0
    groups = np.zeros((v.size, _MAX_VARINT), dtype=np.uint8)
    for i in range(_MAX_VARINT):
        groups[:, i] = ((v >> np.uint64(7 * i)) & np.uint64(127)).astype(np.uint8)
        groups[:, i] |= np.where(i < nbytes - 1, 128, 0).astype(np.uint8)
    return groups[np.arange(_MAX_VARINT)[None, :] < nbytes[:, None]].tobytes()


def _varint_decode(data: bytes, count: int, what: str) -> np.ndarray:
    b = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(b < 128)
    if ends.size != count or (count and ends[-1] != b.size - 1) or (count == 0 and b.size):
        raise OutlierError(f"corrupted outlier side channel: {what} stream holds {ends.size} values "
                           f"in {b.size} bytes, the section says {count}")
    if count == 0:
        return np.zeros(0, dtype=np.uint64)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > _MAX_VARINT:
        raise OutlierError(f"corrupted outlier side channel: a {what} varint is {lengths.max()} bytes long")
    shift = np.arange(b.size) - np.repeat(starts, lengths)
    parts = (b & 127).astype(np.uint64) << (7 * shift).astype(np.uint64)
    return np.add.reduceat(parts, starts)


def _zigzag(k: np.ndarray) -> np.ndarray:
    k = k.astype(np.int64)
    return ((k << 1) ^ (k >> 63)).astype(np.uint64)


def _unzigzag(u: np.ndarray) -> np.ndarray:
    return (u >> np.uint64(1)).astype(np.int64) ^ -(u & np.uint64(1)).astype(np.int64)


# ---- streams ---------------------------------------------------------------------------------
def _pack_stream(raw: bytes) -> bytes:
    """The smallest of raw, zstd and raw LZMA2, tagged with its method."""
    candidates = [(_RAW, raw)]
    if raw:
        candidates.append((_ZSTD, zstandard.ZstdCompressor(level=19, write_checksum=False).compress(raw)))
        candidates.append((_LZMA, lzma.compress(raw, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)))
    method, body = min(candidates, key=lambda c: len(c[1]))
    return struct.pack("<BI", method, len(body)) + body


def _unpack_stream(data: bytes, pos: int, limit: int, what: str) -> tuple[bytes, int]:
    if pos + 5 > len(data):
        raise OutlierError(f"corrupted outlier side channel: truncated before the {what} stream")
    method, size = struct.unpack_from("<BI", data, pos)
    pos += 5
    if pos + size > len(data):
        raise OutlierError(f"corrupted outlier side channel: {what} stream needs {size} bytes, "
                           f"{len(data) - pos} left")
    body = data[pos:pos + size]
    try:
        if method == _RAW:
            raw = body
        elif method == _ZSTD:
            raw = zstandard.ZstdDecompressor().decompress(body, max_output_size=limit)
        elif method == _LZMA:
            dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
            raw = dec.decompress(body, max_length=limit)
            if not dec.eof or dec.unused_data:
                raise OutlierError(f"corrupted outlier side channel: {what} stream is truncated or longer than its values")
        else:
            raise OutlierError(f"corrupted outlier side channel: unknown {what} coding method {method}")
    except (zstandard.ZstdError, lzma.LZMAError) as exc:
        raise OutlierError(f"corrupted outlier side channel: {what} stream does not decompress ({exc})") from None
    return bytes(raw), pos + size


# ---- finding and applying --------------------------------------------------------------------
def _bounds_at(low: Range, high: Range, shape: Sequence[int], range_axis: int,
               index: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = channel_ranges(low, high, shape, range_axis)
    lo, hi = np.broadcast_to(lo, shape), np.broadcast_to(hi, shape)
    return lo[index], hi[index]


def _moved_index(positions: np.ndarray, shape: Sequence[int], position_axis: int) -> tuple[np.ndarray, ...]:
    """Flat positions (position_axis outermost) -> index arrays in the tensor's own axis order."""
    order = [position_axis] + [a for a in range(len(shape)) if a != position_axis]
    moved = np.unravel_index(positions, [shape[a] for a in order])
    index: list = [None] * len(shape)
    for a, idx in zip(order, moved):
        index[a] = idx
    return tuple(index)


def step_sizes(low: Range, high: Range, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) as float64 arrays and the outlier step (high - low) / (2^bits - 1)."""
    lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    return lo, (hi - lo) / (2**bits - 1)


def position_axis(layout: str, range_axis: int, per_entry: bool) -> int:
    """The axis made outermost in the position order: the range axis of per-entry ranges, else
    the layout's channel axis (hidden channels of token layouts, C of the others)."""
    if per_entry:
        return range_axis
    return 3 if layout in ("llama3", "dinov2") else 1


def check_bits(bits: int) -> int:
    if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool) or not 1 <= int(bits) <= 24:
        raise ValueError(f"outlier precision must be an integer number of bits in 1..24, got {bits!r}")
    return int(bits)


def find(x: np.ndarray, low: Range, high: Range, range_axis: int, position_axis: int, bits: int) -> Outliers:
    """The outliers of `x` (the feature before truncation) against the range."""
    bits = check_bits(bits)
    x = np.asarray(x)
    lo, hi = channel_ranges(low, high, x.shape, range_axis)
    outside = np.moveaxis((x < lo) | (x > hi), position_axis, 0).reshape(-1)  # booleans only: big tensors
    candidates = np.flatnonzero(outside)
    index = _moved_index(candidates, x.shape, position_axis)
    v = x[index].astype(np.float64)
    lo_at, hi_at = _bounds_at(low, high, x.shape, range_axis, index)
    k = np.rint((v - np.clip(v, lo_at, hi_at)) / ((hi_at - lo_at) / (2**bits - 1)))
    keep = k != 0
    return Outliers(candidates[keep].astype(np.int64), k[keep].astype(np.int64), position_axis, bits)


def values(out: Outliers, low: Range, high: Range, shape: Sequence[int], range_axis: int) -> tuple[tuple, np.ndarray]:
    """(tensor index, reconstructed value bound + k * step) of every outlier."""
    index = _moved_index(out.positions, shape, out.position_axis)
    lo, hi = _bounds_at(low, high, shape, range_axis, index)
    step = (hi - lo) / (2**out.bits - 1)
    bound = np.where(out.steps > 0, hi, lo)
    return index, bound + out.steps * step


FILLS: tuple[str, ...] = ("clip", "median")


def fill(frame_values: np.ndarray, out: Outliers, how: str) -> np.ndarray:
    """What the frame codec gets at the outlier positions, which the decoder overwrites anyway:
    `clip` leaves the truncated value (the bound); `median` puts the median of the channel's
    other values there, so the frame codec spends no bits on a spike it need not keep."""
    if how not in FILLS:
        raise ValueError(f"unknown outlier fill {how!r}; choose one of {FILLS}")
    if how == "clip" or not len(out):
        return frame_values
    x = np.array(frame_values, dtype=np.float32)
    index = _moved_index(out.positions, x.shape, out.position_axis)
    mask = np.zeros(x.shape, dtype=bool)
    mask[index] = True
    moved = np.moveaxis(np.where(mask, np.nan, x), out.position_axis, 0).reshape(x.shape[out.position_axis], -1)
    channels = np.unique(index[out.position_axis])
    with warnings.catch_warnings():  # a channel of outliers only has no median: 0 below
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nan_to_num(np.nanmedian(moved[channels], axis=1))
    per_channel = np.zeros(x.shape[out.position_axis], dtype=np.float32)
    per_channel[channels] = medians  # a channel of outliers only gets 0 (any value will do)
    x[index] = per_channel[index[out.position_axis]]
    return x


def apply(recon: np.ndarray, out: Outliers, low: Range, high: Range, range_axis: int) -> np.ndarray:
    """Overwrite the outlier positions of a float32 reconstruction (in place; returned)."""
    index, vals = values(out, low, high, recon.shape, range_axis)
    recon[index] = vals.astype(recon.dtype)
    return recon


# ---- the section -----------------------------------------------------------------------------
def _inner_size(shape: Sequence[int], position_axis: int) -> int:
    return int(np.prod(shape)) // int(shape[position_axis])


def encode(out: Outliers, shape: Sequence[int]) -> bytes:
    """Outliers -> side-channel section bytes."""
    pos = out.positions
    gaps = np.diff(pos, prepend=-1) - 1
    channel = pos // _inner_size(shape, out.position_axis)
    k = out.steps
    delta = k.copy()
    same = np.zeros(k.size, dtype=bool)
    same[1:] = channel[1:] == channel[:-1]
    delta[1:] = np.where(same[1:], k[1:] - k[:-1], k[1:])
    head = struct.pack("<BBBI", SECTION_FORMAT, out.position_axis, out.bits, len(out))
    if not len(out):  # the side channel was on and found nothing: the 7-byte head says so
        return head
    return head + _pack_stream(_varint_encode(gaps)) + _pack_stream(_varint_encode(_zigzag(delta)))


def decode(data: bytes, shape: Sequence[int]) -> Outliers:
    """Section bytes -> Outliers, validated against the tensor shape (OutlierError if not)."""
    data = bytes(data)
    if len(data) < 7:
        raise OutlierError(f"corrupted outlier side channel: {len(data)} bytes, too short for its header")
    fmt, axis, bits, count = struct.unpack_from("<BBBI", data, 0)
    size = int(np.prod(shape))
    if fmt != SECTION_FORMAT:
        raise OutlierError(f"unsupported outlier side channel format {fmt} (this fcbench reads {SECTION_FORMAT})")
    if not 0 <= axis < len(shape) or not 1 <= bits <= 24 or count > size:
        raise OutlierError(f"corrupted outlier side channel: axis {axis}, {bits} bits, {count} outliers "
                           f"for a tensor of shape {tuple(shape)}")
    if count == 0:
        if len(data) != 7:
            raise OutlierError(f"corrupted outlier side channel: {len(data) - 7} trailing bytes")
        return Outliers(np.zeros(0, np.int64), np.zeros(0, np.int64), int(axis), int(bits))
    raw_gaps, pos = _unpack_stream(data, 7, _MAX_VARINT * count, "position")
    raw_vals, pos = _unpack_stream(data, pos, _MAX_VARINT * count, "value")
    if pos != len(data):
        raise OutlierError(f"corrupted outlier side channel: {len(data) - pos} trailing bytes")
    gaps = _varint_decode(raw_gaps, count, "position")
    if gaps.max() >= size:
        raise OutlierError("corrupted outlier side channel: a position lies outside the tensor")
    positions = np.cumsum(gaps.astype(np.int64) + 1) - 1
    if positions[-1] >= size:
        raise OutlierError(f"corrupted outlier side channel: position {positions[-1]} outside a tensor "
                           f"of {size} points")
    delta = _unzigzag(_varint_decode(raw_vals, count, "value"))
    channel = positions // _inner_size(shape, axis)
    starts = np.ones(count, dtype=bool)
    starts[1:] = channel[1:] != channel[:-1]
    k = _undelta(delta, starts)
    if np.any(k == 0):
        raise OutlierError("corrupted outlier side channel: an outlier with zero excess")
    return Outliers(positions, k, int(axis), int(bits))


def _undelta(delta: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Inverse of the within-channel delta: a cumulative sum restarted at each channel start."""
    total = np.cumsum(delta)
    run_start = np.maximum.accumulate(np.where(starts, np.arange(delta.size), 0))
    return total - (total - delta)[run_start]
