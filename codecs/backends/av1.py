"""AV1 all-intra through PyAV, in-process: SVT-AV1 (libsvtav1) encodes, dav1d (libdav1d) decodes.

Both libraries ship inside PyAV's wheels, so like x265 this codec needs no binary. SVT-AV1 takes
no 4:0:0 input: the frame is the luma of a `yuv420p10le` picture whose chroma planes are constant
512 (they cost a few bytes). One intra frame, coded with
`svtav1-params tune=1:enable-tf=0:irefresh-type=2:keyint=1:aq-mode=0`: PSNR tuning, no temporal
filtering, key frame only, and no adaptive quantization, so the encoder codes the whole picture
at the one quantizer the rate point names (its log calls the mode CQP).

The rate point is SVT-AV1's `crf`, an integer 1..63 (0 means "unset" to FFmpeg): it is not a VTM
QP, so folders and keys say `crf35`. `rate_points_for_qps` maps the test conditions' VTM QPs to
CRFs of a similar rate on real transformer features (docs/codecs.md, "AV1").

SVT-AV1 hangs (measured, v4.1.0) on pictures under 32 samples in one dimension and much larger in
the other (e.g. 24x512), and refuses more than 16384 columns or 8704 rows: frames are padded by
edge replication to a multiple of 8 and at least 64x64, and cropped back on decode.
"""
from __future__ import annotations

import ctypes
import functools
from typing import Sequence

import numpy as np

from fcbench.codecs.backends import _av
from fcbench.codecs.backends._params import parse_extra_params, reasons
from fcbench.codecs.backends._qp import check_qp
from fcbench.codecs.chain.container import Header
from fcbench.codecs.common import settings
from fcbench.codecs.protocol import Codec, RatePoint, file_sha256
from fcbench.codecs.registry import register

PRESETS = range(0, 14)  # SVT-AV1: 0 slowest .. 13 fastest
CRF_RANGE = (1, 63)
MIN_SIZE, MULTIPLE = 64, 8
MAX_ROWS, MAX_COLS = 8704, 16384
BASE_PARAMS = "tune=1:enable-tf=0:irefresh-type=2:keyint=1:aq-mode=0"
# CRF = round(QP_SLOPE * VTM QP + QP_OFFSET), clipped to CRF_RANGE (see rate_points_for_qps).
QP_SLOPE, QP_OFFSET = 1.75, -23.0

RESERVED = {
    **reasons("crf qp rc tbr mbr target-bitrate max-bit-rate min-qp max-qp enable-variance-boost "
              "variance-boost-strength variance-octile variance-boost-curve qp-scale-compress-strength "
              "luminance-qp-bias use-fixed-qindex-offsets key-frame-qindex-offset key-frame-chroma-qindex-offset "
              "qindex-offsets chroma-qindex-offsets luma-y-dc-qindex-offset chroma-u-dc-qindex-offset "
              "chroma-u-ac-qindex-offset chroma-v-dc-qindex-offset chroma-v-ac-qindex-offset buf-sz "
              "buf-initial-sz buf-optimal-sz undershoot-pct overshoot-pct recode-loop bias-pct "
              "minsection-pct maxsection-pct gop-constraint-rc pass passes stats lossless",
              "it is SVT-AV1 rate control"),
    **reasons("aq-mode tune enable-tf", "fcbench fixes it so that one CRF codes the whole picture at one quantizer"),
    **reasons("keyint intra-period irefresh-type preset lp film-grain film-grain-denoise",
              "fcbench sets it (one intra picture, the preset and threads options, no synthetic grain)"),
}


def padded_size(rows: int, cols: int) -> tuple[int, int]:
    r, c = _av.padded(rows, cols, MULTIPLE, MIN_SIZE)
    if r > MAX_ROWS or c > MAX_COLS:
        raise ValueError(f"av1: a {rows}x{cols} frame pads to {r}x{c}, over SVT-AV1's {MAX_ROWS}x{MAX_COLS} limit")
    return r, c


def _library_version(prefix: str, symbol: str) -> str:
    """Version string a bundled library reports about itself ('unknown' when not bundled)."""
    path = _av.bundled_library(prefix)
    if path is None:
        return "unknown"
    try:
        func = getattr(ctypes.CDLL(str(path)), symbol)
    except (OSError, AttributeError):
        return "unknown"
    func.restype = ctypes.c_char_p
    return func().decode("ascii", "replace").lstrip("v")


@functools.lru_cache(maxsize=1)
def versions() -> dict:
    import av

    return {"SVT-AV1": _library_version("libSvtAv1Enc", "svt_av1_get_version"),
            "dav1d": _library_version("libdav1d", "dav1d_version"),
            "FFmpeg": str(av.ffmpeg_version_info), "PyAV": av.__version__}


def _rejected(text: str) -> dict[str, str]:
    """What SVT-AV1 itself rejects of `key=value:...` (names it cannot parse)."""
    settings.apply_svt_av1_defaults()
    return _av.rejected_parameters("libsvtav1", "obu", "svtav1-params", text, kind="yuv420",
                                   extra=(("crf", "40"), ("preset", "12")))


@register("av1")
class AV1Codec(Codec):
    frame_kind = "integer"
    rate_unit = "crf"

    def __init__(self, preset: int = 4, threads: int = 1, extra_params: str = "") -> None:
        """preset: SVT-AV1 preset 0 (slowest) .. 13; threads: SVT-AV1's level of parallelism (the
        stream does not depend on it); extra_params: more `key=value:...` SVT-AV1 parameters
        (none that changes the rate control)."""
        if isinstance(preset, bool) or not isinstance(preset, int) or preset not in PRESETS:
            raise ValueError(f"av1 preset must be an integer {PRESETS.start}..{PRESETS.stop - 1}, got {preset!r}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"av1 threads must be a positive integer, got {threads!r}")
        parse_extra_params("av1", extra_params, RESERVED, probe=_rejected)
        self.preset = preset
        self.threads = threads
        self.extra_params = extra_params

    @property
    def identity(self) -> dict:
        library = _av.bundled_library("libSvtAv1Enc")
        return {
            "name": self.name,
            "version": " / ".join(f"{k} {v}" for k, v in versions().items()),
            "binary_sha256": file_sha256(library),
            "cfg_sha256": None,
            "options": {"preset": self.preset, "extra_params": self.extra_params},
        }

    def check_rate_point(self, rate_point: RatePoint) -> None:
        check_qp(self.name, rate_point, *CRF_RANGE, unit="CRF")

    @classmethod
    def rate_points_for_qps(cls, qps: Sequence[int]) -> list[RatePoint]:
        """CRFs for VTM QPs: a linear map fitted so that the CRF codes real transformer features
        at about the rate x265 slow gives the QP (docs/codecs.md, "AV1")."""
        low, high = CRF_RANGE
        return [int(min(high, max(low, round(QP_SLOPE * int(q) + QP_OFFSET)))) for q in qps]

    def options(self, crf: int) -> dict:
        params = f"{BASE_PARAMS}:lp={self.threads}"
        return {"crf": str(int(crf)), "preset": str(self.preset),
                "svtav1-params": f"{params}:{self.extra_params}" if self.extra_params else params}

    def encode_frame(self, frame: np.ndarray, rate_point: RatePoint, bit_depth: int) -> bytes:
        self.check_rate_point(rate_point)
        if bit_depth not in (8, 10):
            raise ValueError(f"av1 (SVT-AV1, main profile) codes 8 or 10-bit samples, not {bit_depth}-bit")
        settings.apply_svt_av1_defaults()  # SVT-AV1 prints its configuration unless told errors only
        padded = _av.pad_edges(frame, *padded_size(*frame.shape))
        return _av.encode_frame(padded, "libsvtav1", "obu", bit_depth, self.options(int(rate_point)), kind="yuv420")

    def decode_frame(self, payload: bytes, header: Header) -> np.ndarray:
        rows, cols = header.frame
        picture = _av.decode_single_frame(payload, "obu", decoder="libdav1d", kind="yuv420")
        return _av.crop(picture, padded_size(rows, cols), rows, cols, self.name)

