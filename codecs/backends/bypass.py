"""Reference points without a video codec, so tables show where coding starts and stops.

bypass   : truncate-quantize only (the reference's "QP0" point): the packed samples stored
           raw at exactly `bit_depth` bits each (MSB-first bit packing, no padding but the
           last byte), so BPFP = bit_depth plus the container header.
lossless : the same samples losslessly compressed with zstd after splitting them into byte
           planes (high bytes, then low bytes), the entropy floor of the quantized frame.
Both take the single rate point 0.
"""
from __future__ import annotations

import numpy as np

from fcbench.codecs.chain.container import ContainerError, Header
from fcbench.codecs.protocol import Codec, RatePoint
from fcbench.codecs.registry import register


def _check_zero(codec: str, rate_point: RatePoint) -> None:
    if isinstance(rate_point, bool) or rate_point != 0:
        raise ValueError(f"{codec} has one rate point, 0 (uncoded samples), got {rate_point!r}")


# Samples packed or unpacked per step: the bit arrays of a step take ~20 bytes a sample, so a
# 256 MiB feature costs a few tens of MB, not gigabytes. A multiple of 8: steps end on a byte.
_STEP = 1 << 20


def pack_bits(frame: np.ndarray, bit_depth: int) -> bytes:
    """Samples -> MSB-first bit string of `bit_depth` bits per sample."""
    flat = np.asarray(frame, dtype=np.uint16).reshape(-1)
    if flat.size and int(flat.max()) >= 1 << bit_depth:
        raise ValueError(f"sample {int(flat.max())} does not fit in {bit_depth} bits")
    shifts = np.arange(bit_depth - 1, -1, -1, dtype=np.uint16)
    parts = []
    for start in range(0, flat.size, _STEP):
        bits = ((flat[start:start + _STEP, None] >> shifts) & 1).astype(np.uint8)
        parts.append(np.packbits(bits.reshape(-1)).tobytes())
    return b"".join(parts)


def unpack_bits(data: bytes, count: int, bit_depth: int) -> np.ndarray:
    need = -(-count * bit_depth // 8)
    if len(data) != need:
        raise ContainerError(f"bypass payload has {len(data)} bytes, {count} {bit_depth}-bit samples need {need}")
    packed = np.frombuffer(data, dtype=np.uint8)
    weights = (1 << np.arange(bit_depth - 1, -1, -1)).astype(np.uint32)
    out = np.empty(count, dtype=np.uint16)
    step_bytes = _STEP * bit_depth // 8
    for start in range(0, count, _STEP):
        n = min(_STEP, count - start)
        chunk = packed[start // _STEP * step_bytes:][: -(-n * bit_depth // 8)]
        bits = np.unpackbits(chunk)[: n * bit_depth].reshape(n, bit_depth)
        out[start:start + n] = bits.astype(np.uint32) @ weights
    return out


@register("bypass")
class BypassCodec(Codec):
    frame_kind = "integer"

    @property
    def identity(self) -> dict:
        return {"name": self.name, "version": "1", "binary_sha256": None, "cfg_sha256": None, "options": {}}

    def check_rate_point(self, rate_point: RatePoint) -> None:
        _check_zero(self.name, rate_point)

    def encode_frame(self, frame: np.ndarray, rate_point: RatePoint, bit_depth: int) -> bytes:
        return pack_bits(frame, bit_depth)

    def decode_frame(self, payload: bytes, header: Header) -> np.ndarray:
        rows, cols = header.frame
        return unpack_bits(payload, rows * cols, header.bit_depth).reshape(rows, cols)


@register("lossless")
class LosslessCodec(Codec):
    frame_kind = "integer"

    def __init__(self, level: int = 19) -> None:
        """level: zstd compression level (1..22; higher is smaller and slower)."""
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 22:
            raise ValueError(f"zstd level must be an integer in 1..22, got {level!r}")
        self.level = level

    @property
    def identity(self) -> dict:
        import zstandard

        return {"name": self.name, "version": "byteplanes+zstd " + ".".join(map(str, zstandard.ZSTD_VERSION)),
                "binary_sha256": None, "cfg_sha256": None, "options": {"level": self.level}}

    def check_rate_point(self, rate_point: RatePoint) -> None:
        _check_zero(self.name, rate_point)

    def encode_frame(self, frame: np.ndarray, rate_point: RatePoint, bit_depth: int) -> bytes:
        import zstandard

        planes = np.asarray(frame, dtype="<u2").reshape(-1).view(np.uint8).reshape(-1, 2).T
        return zstandard.ZstdCompressor(level=self.level).compress(np.ascontiguousarray(planes[::-1]).tobytes())

    def decode_frame(self, payload: bytes, header: Header) -> np.ndarray:
        import zstandard

        rows, cols = header.frame
        try:
            raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=2 * rows * cols)
        except zstandard.ZstdError as exc:
            raise ContainerError(f"lossless payload is not a valid zstd frame: {exc}") from exc
        if len(raw) != 2 * rows * cols:
            raise ContainerError(f"lossless payload decompressed to {len(raw)} bytes, expected {2 * rows * cols}")
        planes = np.frombuffer(raw, dtype=np.uint8).reshape(2, -1)[::-1]
        return np.ascontiguousarray(planes.T).view("<u2").reshape(rows, cols).astype(np.uint16)
