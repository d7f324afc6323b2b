"""A lossy feature codec in a few lines: drop the low bits of every sample, deflate the rest."""
import zlib

import numpy as np

from fcbench.codecs import Codec, ContainerError


class ZlibCodec(Codec):
    frame_kind = "integer"  # it gets the packed frame of b-bit samples (truncated, quantized)
    rate_unit = "shift"     # its rate point: how many low bits of each sample are dropped

    def __init__(self, level: int = 9) -> None:
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 9:
            raise ValueError(f"zlib level must be an integer 1..9, got {level!r}")
        self.level = level

    @property
    def identity(self) -> dict:  # everything that changes the bytes: part of every cache key
        return {"name": self.name, "version": f"0.1.0 zlib {zlib.ZLIB_RUNTIME_VERSION}",
                "binary_sha256": None, "cfg_sha256": None, "options": {"level": self.level}}

    def check_rate_point(self, rate_point) -> None:
        if isinstance(rate_point, bool) or not isinstance(rate_point, int) or not 0 <= rate_point <= 8:
            raise ValueError(f"zlib rate point = low bits dropped, an integer 0..8, got {rate_point!r}")

    @classmethod
    def rate_points_for_qps(cls, qps):  # the pipelines' VTM QPs 22..42 -> 0..4 bits dropped
        return [min(8, max(0, (int(q) - 22) // 5)) for q in qps]

    def encode_frame(self, frame, rate_point, bit_depth: int) -> bytes:
        self.check_rate_point(rate_point)
        return zlib.compress((frame.astype("<u2") >> rate_point).tobytes(), self.level)

    def decode_frame(self, payload: bytes, header) -> np.ndarray:
        rows, cols = header.frame
        try:
            kept = np.frombuffer(zlib.decompress(payload), dtype="<u2")
        except zlib.error as exc:
            raise ContainerError(f"zlib payload does not inflate: {exc}") from None
        if kept.size != rows * cols:
            raise ContainerError(f"zlib payload holds {kept.size} samples, the frame has {rows * cols}")
        shift = int(header.rate_point)  # the container carries the rate point
        middle = (kept.astype(np.uint32) << shift) + ((1 << shift) >> 1)
        return np.minimum(middle, 2**header.bit_depth - 1).astype(np.uint16).reshape(rows, cols)
