"""The self-describing fcbench bitstream container.

Layout (all little-endian), then the codec payload, then a CRC-32 of everything before it:

    magic "FCBS" | u8 format version
    u8 len + codec name | u8 rate kind (0 int, 1 float) + i32/f64 rate point
    u8 dtype code | u8 ndim + u32 dims | u8 layout code | u32 rows, u32 cols
    u8 transform code | u8 bit depth | u8 flags (bit 0: truncated)
    ranges:  v1: u16 count + (f64 low, f64 high) each
             v2: u8 range axis | u8 storage | u32 count | storage 0: (f64 low, f64 high) each,
                 storage 1: u32 length + zstd of f32 lows then f32 highs (long fitted tables)
    u16 point tables + u32 table length + f32 points
    v2 only: u8 section count + (u8 tag, u32 length, bytes) each; tag 1 = outlier side channel
    u32 payload length | payload | u32 crc32

Version 1 is written whenever it can say everything (per-C or scalar ranges, no side channel),
so the paper's chain still produces version-1 containers byte for byte; version 2 is written
only for the additions (ranges along another axis, long range tables, the outlier side
channel). Both decode. Everything a decoder needs is here, so a container decodes alone.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
import zstandard

MAGIC = b"FCBS"
FORMAT_VERSION = 2  # the newest written; versions 1..FORMAT_VERSION decode
SECTION_OUTLIERS = 1
_RANGES_F64, _RANGES_F32_ZSTD = 0, 1
_COMPACT_RANGES_FROM = 17  # tables this long are stored as zstd'd float32 when exact
DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16", "float64")
# A layout's code is its position here, written into every container: append, never reorder.
# The names are packing.LAYOUTS' (tests/codecs/core/test_registries_agree.py ties the two).
LAYOUT_CODES: tuple[str, ...] = ("llama3", "dinov2", "sd3", "generic")
# "none": the feature itself, float32 (codecs of frame_kind "tensor" code it with their own transform)
TRANSFORMS: tuple[str, ...] = ("uniform", "legacy", "nonlinear", "normalize", "none")


class ContainerError(ValueError):
    """A container that cannot be parsed: not fcbench, truncated, corrupted or unsupported."""


@dataclass(frozen=True)
class Header:
    codec: str
    rate_point: Union[int, float]
    shape: tuple[int, ...]
    dtype: str
    layout: str
    frame: tuple[int, int]
    transform: str
    bit_depth: int
    low: tuple[float, ...]
    high: tuple[float, ...]
    truncated: bool
    points: Optional[np.ndarray] = field(default=None, compare=False)
    range_axis: int = 1  # the tensor axis per-entry ranges apply to (1 = the C index)
    outliers: Optional[bytes] = None  # coded outlier side channel (fcbench.codecs.chain.outliers)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"unsupported feature dtype {self.dtype!r}; supported: {DTYPES}")
        if self.layout not in LAYOUT_CODES:
            raise ValueError(f"unknown layout {self.layout!r}")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {self.transform!r}; choose one of {TRANSFORMS}")
        if len(self.low) != len(self.high):
            raise ValueError("low and high must have the same length")
        if not self.codec.isascii() or not 0 < len(self.codec) < 256:
            raise ValueError(f"codec name must be 1..255 ASCII characters, got {self.codec!r}")
        if self.range_axis not in (1, 2, 3):
            raise ValueError(f"range axis must be 1, 2 or 3, got {self.range_axis}")

    @property
    def range(self) -> tuple[Union[float, list[float]], Union[float, list[float]]]:
        """(low, high) as a scalar pair or per-channel lists, as the transforms take them."""
        if len(self.low) == 1:
            return self.low[0], self.high[0]
        return list(self.low), list(self.high)

    @property
    def points_count(self) -> int:
        return int(np.prod(self.shape))

    @property
    def side_bytes(self) -> int:
        """Bytes of coded side information (the outlier side channel) carried in the header."""
        return 0 if self.outliers is None else len(self.outliers)


def _f32_exact(values: tuple[float, ...]) -> bool:
    arr = np.asarray(values, dtype=np.float64)
    return bool(np.array_equal(arr.astype(np.float32).astype(np.float64), arr))


def compact_ranges(low: tuple[float, ...], high: tuple[float, ...]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Ranges as the container will hold them: tables of 17+ entries are rounded to float32
    (stored compactly) so the encoder quantizes with exactly what the decoder reads."""
    if len(low) < _COMPACT_RANGES_FROM:
        return low, high
    as32 = lambda v: tuple(float(f) for f in np.asarray(v, dtype=np.float32))  # noqa: E731
    return as32(low), as32(high)


def _ranges_v2(h: Header) -> bytes:
    n = len(h.low)
    if n >= _COMPACT_RANGES_FROM and _f32_exact(h.low) and _f32_exact(h.high):
        packed = zstandard.ZstdCompressor(level=19, write_checksum=False).compress(
            np.asarray(h.low + h.high, dtype="<f4").tobytes())
        return struct.pack("<BBII", h.range_axis, _RANGES_F32_ZSTD, n, len(packed)) + packed
    pairs = b"".join(struct.pack("<dd", lo, hi) for lo, hi in zip(h.low, h.high))
    return struct.pack("<BBI", h.range_axis, _RANGES_F64, n) + pairs


def format_version(h: Header) -> int:
    """The oldest format that says everything in `h` (1 unless an addition of 2 is used)."""
    v1_ok = h.range_axis == 1 and h.outliers is None and len(h.low) < 2**16 and (
        len(h.low) < _COMPACT_RANGES_FROM or not (_f32_exact(h.low) and _f32_exact(h.high)))
    return 1 if v1_ok else 2


def _encode_header(h: Header) -> bytes:
    name = h.codec.encode("ascii")
    version = format_version(h)
    parts = [MAGIC, struct.pack("<BB", version, len(name)), name]
    if isinstance(h.rate_point, (int, np.integer)) and not isinstance(h.rate_point, bool):
        parts.append(struct.pack("<Bi", 0, int(h.rate_point)))
    else:
        parts.append(struct.pack("<Bd", 1, float(h.rate_point)))
    parts.append(struct.pack("<BB", DTYPES.index(h.dtype), len(h.shape)))
    parts.append(struct.pack(f"<{len(h.shape)}I", *h.shape))
    parts.append(struct.pack("<BII", LAYOUT_CODES.index(h.layout), *h.frame))
    parts.append(struct.pack("<BBB", TRANSFORMS.index(h.transform), h.bit_depth, int(h.truncated)))
    if version == 1:
        parts.append(struct.pack("<H", len(h.low)))
        parts.extend(struct.pack("<dd", lo, hi) for lo, hi in zip(h.low, h.high))
    else:
        parts.append(_ranges_v2(h))
    if h.points is None:
        parts.append(struct.pack("<HI", 0, 0))
    else:
        table = np.asarray(h.points, dtype="<f4")
        table = table.reshape(1, -1) if table.ndim == 1 else table
        parts.append(struct.pack("<HI", table.shape[0], table.shape[1]))
        parts.append(table.tobytes())
    if version >= 2:
        sections = [] if h.outliers is None else [(SECTION_OUTLIERS, bytes(h.outliers))]
        parts.append(struct.pack("<B", len(sections)))
        parts.extend(struct.pack("<BI", tag, len(body)) + body for tag, body in sections)
    return b"".join(parts)


def pack_container(header: Header, payload: bytes) -> bytes:
    """Header + payload + CRC-32 -> container bytes."""
    body = _encode_header(header) + struct.pack("<I", len(payload)) + bytes(payload)
    return body + struct.pack("<I", zlib.crc32(body))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ContainerError(f"truncated container: header ends after {len(self.data)} bytes")
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ContainerError(
                f"truncated container: needs {self.pos + size} bytes, got {len(self.data)}"
            )
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out


def _code(table: tuple[str, ...], index: int, what: str) -> str:
    if index >= len(table):
        raise ContainerError(f"corrupted container: unknown {what} code {index}")
    return table[index]


def unpack_container(data: bytes) -> tuple[Header, bytes]:
    """Parse and verify a container -> (header, payload). Raises ContainerError."""
    data = bytes(data)
    if len(data) < len(MAGIC) + 1 or data[: len(MAGIC)] != MAGIC:
        raise ContainerError("not an fcbench container (bad magic bytes)")
    if len(data) < 8:
        raise ContainerError(f"truncated container: only {len(data)} bytes")
    r = _Reader(data)
    r.raw(len(MAGIC))
    version, name_len = r.take("<BB")
    if not 1 <= version <= FORMAT_VERSION:
        raise ContainerError(f"unsupported container format version {version} (this fcbench reads 1..{FORMAT_VERSION})")
    codec = r.raw(name_len).decode("ascii", errors="replace")
    (kind,) = r.take("<B")
    rate_point: Union[int, float] = r.take("<i")[0] if kind == 0 else r.take("<d")[0]
    dtype_code, ndim = r.take("<BB")
    shape = r.take(f"<{ndim}I")
    layout_code, rows, cols = r.take("<BII")
    transform_code, bit_depth, flags = r.take("<BBB")
    range_axis, ranges = (1, [r.take("<dd") for _ in range(r.take("<H")[0])]) if version == 1 else _read_ranges_v2(r)
    n_tables, table_len = r.take("<HI")
    points = None
    if n_tables:
        points = np.frombuffer(r.raw(4 * n_tables * table_len), dtype="<f4").reshape(n_tables, table_len).copy()
    outliers = _read_sections(r) if version >= 2 else None
    (payload_len,) = r.take("<I")
    payload = r.raw(payload_len)
    (crc,) = r.take("<I")
    if r.pos != len(data):
        raise ContainerError(f"corrupted container: {len(data) - r.pos} trailing bytes")
    if zlib.crc32(data[: r.pos - 4]) != crc:
        raise ContainerError("corrupted container: CRC-32 mismatch")
    try:
        header = Header(
            codec=codec,
            rate_point=rate_point,
            shape=tuple(shape),
            dtype=_code(DTYPES, dtype_code, "dtype"),
            layout=_code(LAYOUT_CODES, layout_code, "layout"),
            frame=(rows, cols),
            transform=_code(TRANSFORMS, transform_code, "transform"),
            bit_depth=bit_depth,
            low=tuple(lo for lo, _ in ranges),
            high=tuple(hi for _, hi in ranges),
            truncated=bool(flags & 1),
            points=points,
            range_axis=range_axis,
            outliers=outliers,
        )
    except ValueError as exc:
        raise ContainerError(f"corrupted container: {exc}") from exc
    return header, payload


def _read_ranges_v2(r: _Reader) -> tuple[int, list[tuple[float, float]]]:
    axis, storage, count = r.take("<BBI")
    if storage == _RANGES_F64:
        return axis, [r.take("<dd") for _ in range(count)]
    if storage != _RANGES_F32_ZSTD:
        raise ContainerError(f"corrupted container: unknown range storage code {storage}")
    (size,) = r.take("<I")
    packed = r.raw(size)
    try:
        raw = zstandard.ZstdDecompressor().decompress(packed, max_output_size=8 * count)
    except zstandard.ZstdError as exc:
        raise ContainerError(f"corrupted container: range table does not decompress ({exc})") from None
    if len(raw) != 8 * count:
        raise ContainerError(f"corrupted container: range table holds {len(raw)} bytes for {count} ranges")
    values = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    return axis, list(zip(values[:count].tolist(), values[count:].tolist()))


def _read_sections(r: _Reader) -> Optional[bytes]:
    (count,) = r.take("<B")
    outliers = None
    for _ in range(count):
        tag, size = r.take("<BI")
        body = r.raw(size)
        if tag != SECTION_OUTLIERS or outliers is not None:
            raise ContainerError(f"corrupted container: unknown or repeated section tag {tag}")
        outliers = body
    return outliers


def header_size(data: bytes) -> int:
    """Bytes of the container that are not codec payload (header + length + CRC)."""
    _, payload = unpack_container(data)
    return len(data) - len(payload)
