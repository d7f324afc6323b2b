"""Fraunhofer VVenC (vvencFFapp) all-intra, constant QP, 4:0:0 10-bit, when its binary is present.

The command line is exactly the one of the recorded real VVenC 1.14.0 runs in tests/fixtures/vvenc
(its presets silently set IntraQPOffset -3 and perceptual QPA, both overridden so a QP means what
VTM's QP means):

    vvencFFapp --preset P -i in.yuv --SourceWidth W --SourceHeight H --InputBitDepth 10
        --InternalBitDepth 10 --InputChromaFormat 400 -f 1 -fr 1 -q QP --IntraPeriod 1
        --IntraQPOffset 0 --PerceptQPA 0 --ConformanceWindowMode 1 -b out.bin

Binaries: option, else $FCBENCH_VVENC_ENCODER / $FCBENCH_VVDEC_DECODER, else PATH. Without
vvdecapp decoding uses PyAV's VVC decoder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from fcbench.codecs.backends._binary import find_binary, tool_timeout
from fcbench.codecs.backends._vvc import ExternalVVCCodec
from fcbench.codecs.registry import register

PRESETS = ("faster", "fast", "medium", "slow", "slower")
PYAV = "pyav"


@register("vvenc")
class VVenCCodec(ExternalVVCCodec):
    tool = "VVenC"
    # Like VTM, VVenC 1.14's picture line counts every byte of the file (all recorded real runs).
    log_bits_are_file_bits = True
    version_flag = "--version"

    def __init__(self, preset: str = "medium", encoder: Union[str, Path, None] = None,
                 decoder: Union[str, Path, None] = None, timeout: Optional[float] = None) -> None:
        """preset: faster/fast/medium/slow/slower; encoder: vvencFFapp; decoder: vvdecapp or "pyav"."""
        if preset not in PRESETS:
            raise ValueError(f"unknown VVenC preset {preset!r}; choose one of {PRESETS}")
        self.preset = preset
        tool_timeout(1, 1, timeout)  # a bad value fails here, not after an encode
        self.timeout = timeout
        self._encoder_option = encoder
        self.encoder: Optional[Path] = None
        if decoder == PYAV:
            self.decoder = None
        else:
            self.decoder = find_binary("VVdeC decoder", decoder, "FCBENCH_VVDEC_DECODER", ("vvdecapp",),
                                       "decoder", required=decoder is not None)

    def resolve_encoder(self) -> Path:
        if self.encoder is None:
            self.encoder = find_binary("VVenC encoder", self._encoder_option, "FCBENCH_VVENC_ENCODER",
                                       ("vvencFFapp",), "encoder")
        return self.encoder

    def options(self) -> dict:
        return {"preset": self.preset}

    def encoder_argv(self, encoder: Path, yuv_in: str, bitstream: str, rows: int, cols: int,
                     qp: int, bit_depth: int) -> list[str]:
        return [str(encoder), "--preset", self.preset, "-i", yuv_in, "--SourceWidth", str(cols),
                "--SourceHeight", str(rows), "--InputBitDepth", str(bit_depth), "--InternalBitDepth", str(bit_depth),
                "--InputChromaFormat", "400", "-f", "1", "-fr", "1", "-q", str(qp), "--IntraPeriod", "1",
                "--IntraQPOffset", "0", "--PerceptQPA", "0", "--ConformanceWindowMode", "1", "-b", bitstream]

    def decoder_argv(self, decoder: Path, bitstream: str, recon: str, bit_depth: int) -> list[str]:
        return [str(decoder), "-b", bitstream, "-o", recon]
