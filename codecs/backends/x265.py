"""x265 (HEVC) all-intra, constant QP, 4:0:0 through PyAV's libx265, in-process.

Works on every machine with PyAV; it is the codec CI uses for real end-to-end coding.
Settings (docs/test-conditions.md §9) so that a QP means what VTM's QP means: `ipratio=1` (else
the I frame is coded at QP-3), `info=0` (no ~1 KB version SEI in every stream), `aq-mode=0`
(no perceptual bit reallocation); `extra_params` may not touch the rate control or these settings
(_params.py). Frames smaller than x265's minimum or not a multiple of the
8x8 minimum CU are padded by edge replication; the container's header.frame gives the crop.
"""
from __future__ import annotations

import functools
import re
from typing import Optional

import numpy as np

from fcbench.codecs.backends import _av
from fcbench.codecs.backends._params import parse_extra_params, reasons, x265_parameter_name
from fcbench.codecs.backends._qp import check_qp
from fcbench.codecs.chain.container import Header
from fcbench.codecs.protocol import Codec, RatePoint, file_sha256
from fcbench.codecs.registry import register

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
MIN_CU = 8
MIN_SIZE = 16  # libx265 refuses pictures narrower or lower than this (measured with PyAV 18.1)


# x265 parameters that set the rate or the quantizer, or that fcbench fixes (see params()).
RESERVED = {
    **reasons("qp crf crf-max crf-min bitrate lossless vbv-maxrate vbv-bufsize vbv-init vbv-end "
              "vbv-end-fr-adj const-vbv strict-cbr qpmin qpmax qpstep qcomp qblur cplxblur ratetol "
              "pass multi-pass-opt-rps multi-pass-opt-analysis multi-pass-opt-distortion stats slow-firstpass "
              "zones zonefile qpfile rc-grain cutree aq-motion hevc-aq qp-adaptation-range qg-size "
              "scenecut-aware-qp masking-strength pbratio cbqpoffs crqpoffs",
              "it is x265 rate control"),
    **reasons("ipratio aq-mode aq-strength", "fcbench fixes it so that a QP means what VTM's QP means"),
    **reasons("keyint min-keyint bframes info pools frame-threads log-level",
              "fcbench sets it (one intra picture, no version SEI, threads from the `threads` option)"),
}


def padded_size(rows: int, cols: int) -> tuple[int, int]:
    return _av.padded(rows, cols, MIN_CU, MIN_SIZE)


def _rejected(text: str) -> dict[str, str]:
    """What libx265 itself rejects of `key=value:...` (unknown names, bad values)."""
    return _av.rejected_parameters("libx265", "hevc", "x265-params", f"qp=32:log-level=error:{text}")


@functools.lru_cache(maxsize=1)
def x265_version() -> str:
    """libx265 version string, read from the info SEI of a tiny encode (x265 writes it there)."""
    frame = np.zeros((MIN_SIZE, MIN_SIZE), dtype=np.uint16)
    data = _av.encode_frame(frame, "libx265", "hevc", 10, {"x265-params": "qp=51:info=1:log-level=error"})
    match = re.search(rb"x265 \(build \d+\) - ([0-9][^ :\x00]*)", data)
    return match.group(1).decode("ascii", "replace") if match else "unknown"


def x265_library_sha256() -> Optional[str]:
    """sha256 of the libx265 shared library bundled with PyAV (None if linked elsewhere)."""
    return file_sha256(_av.bundled_library("libx265"))


@register("x265")
class X265Codec(Codec):
    frame_kind = "integer"

    def __init__(self, preset: str = "slow", threads: int = 1, extra_params: str = "") -> None:
        """preset: an x265 preset; threads: worker threads per encode (1 suits parallel sweeps,
        whose workers already use every core; the stream does not depend on it);
        extra_params: more `key=value:...` x265 parameters (none that changes the rate control)."""
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"x265 threads must be a positive integer, got {threads!r}")
        if preset not in PRESETS:
            raise ValueError(f"unknown x265 preset {preset!r}; choose one of {PRESETS}")
        parse_extra_params("x265", extra_params, RESERVED, x265_parameter_name, _rejected)
        self.preset = preset
        self.threads = threads
        self.extra_params = extra_params

    @property
    def identity(self) -> dict:
        import av

        return {
            "name": self.name,
            "version": f"x265 {x265_version()} / FFmpeg {av.ffmpeg_version_info} / PyAV {av.__version__}",
            "binary_sha256": x265_library_sha256(),
            "cfg_sha256": None,
            "options": {"preset": self.preset, "extra_params": self.extra_params},
        }

    def check_rate_point(self, rate_point: RatePoint) -> None:
        check_qp(self.name, rate_point, 0, 51)

    def params(self, qp: int) -> str:
        base = (f"qp={int(qp)}:keyint=1:bframes=0:ipratio=1:info=0:aq-mode=0:log-level=error"
                f":pools={self.threads}:frame-threads=1")
        return f"{base}:{self.extra_params}" if self.extra_params else base

    def encode_frame(self, frame: np.ndarray, rate_point: RatePoint, bit_depth: int) -> bytes:
        self.check_rate_point(rate_point)
        if bit_depth not in (8, 10, 12):
            raise ValueError(f"x265 codes 8, 10 or 12-bit samples, not {bit_depth}-bit")
        padded = _av.pad_edges(frame, *padded_size(*frame.shape))
        return _av.encode_frame(padded, "libx265", "hevc", bit_depth,
                                {"x265-params": self.params(int(rate_point)), "preset": self.preset})

    def decode_frame(self, payload: bytes, header: Header) -> np.ndarray:
        rows, cols = header.frame
        return _av.crop(_av.decode_single_frame(payload, "hevc"), padded_size(rows, cols), rows, cols, self.name)
