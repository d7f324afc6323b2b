"""VTM (the VVC reference software) exactly as the reference runs it (docs/test-conditions.md §4).

    EncoderAppStatic -c encoder_intra_vtm.cfg -i in.yuv -o "" -b out.bin -q QP
        --ConformanceWindowMode=1 -wdt COLS -hgt ROWS -f 1 -fr 1 --InternalBitDepth=10
        --InputBitDepth=10 --InputChromaFormat=400 --OutputBitDepth=10
    DecoderAppStatic -b out.bin -o rec.yuv -d 10

Binaries: option, else $FCBENCH_VTM_ENCODER / $FCBENCH_VTM_DECODER, else PATH. cfg: option,
else $FCBENCH_VTM_CFG, else `<vtm>/cfg/encoder_intra_vtm.cfg` above the encoder. Without a
VTM decoder (or with decoder="pyav") decoding uses PyAV's VVC decoder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from fcbench.codecs.backends._binary import find_binary, find_file, tool_timeout
from fcbench.codecs.backends._vvc import ExternalVVCCodec
from fcbench.codecs.protocol import file_sha256
from fcbench.codecs.registry import register

ENCODER_NAMES = ("EncoderAppStatic", "EncoderApp")
DECODER_NAMES = ("DecoderAppStatic", "DecoderApp")
CFG_NAME = "encoder_intra_vtm.cfg"
PYAV = "pyav"


def default_cfg(encoder: Path) -> Optional[Path]:
    """`cfg/encoder_intra_vtm.cfg` in the VTM tree that holds the encoder (bin/ may be nested)."""
    for parent in encoder.parents:
        candidate = parent / "cfg" / CFG_NAME
        if candidate.is_file():
            return candidate
    return None


@register("vtm")
class VTMCodec(ExternalVVCCodec):
    tool = "VTM"
    log_bits_are_file_bits = True

    def __init__(self, encoder: Union[str, Path, None] = None, decoder: Union[str, Path, None] = None,
                 cfg: Union[str, Path, None] = None, timeout: Optional[float] = None) -> None:
        """encoder/decoder: VTM binaries (decoder="pyav" forces PyAV); cfg: the all-intra cfg;
        timeout: seconds per tool run (None: scaled by frame size from the FCBENCH_TOOL_TIMEOUT_*
        settings, as VTM takes minutes per megapixel; 0: no limit)."""
        self._encoder_option = encoder
        self._cfg_option = cfg
        tool_timeout(1, 1, timeout)  # a bad value fails here, not after an encode
        self.timeout = timeout
        if decoder == PYAV:
            self.decoder = None
        else:
            self.decoder = find_binary("VTM decoder", decoder, "FCBENCH_VTM_DECODER", DECODER_NAMES,
                                       "decoder", required=decoder is not None)
        self.encoder: Optional[Path] = None

    def resolve_encoder(self) -> Path:
        if self.encoder is None:
            self.encoder = find_binary("VTM encoder", self._encoder_option, "FCBENCH_VTM_ENCODER",
                                       ENCODER_NAMES, "encoder")
        return self.encoder

    @property
    def cfg(self) -> Path:
        encoder = self.resolve_encoder()
        return find_file(f"VTM all-intra cfg ({CFG_NAME})", self._cfg_option, "FCBENCH_VTM_CFG",
                         default_cfg(encoder), "cfg")

    def cfg_sha256(self) -> Optional[str]:
        return file_sha256(self.cfg)

    def encoder_argv(self, encoder: Path, yuv_in: str, bitstream: str, rows: int, cols: int,
                     qp: int, bit_depth: int) -> list[str]:
        return [str(encoder), "-c", str(self.cfg), "-i", yuv_in, "-o", "", "-b", bitstream, "-q", str(qp),
                "--ConformanceWindowMode=1", "-wdt", str(cols), "-hgt", str(rows), "-f", "1", "-fr", "1",
                f"--InternalBitDepth={bit_depth}", f"--InputBitDepth={bit_depth}",
                "--InputChromaFormat=400", f"--OutputBitDepth={bit_depth}"]

    def decoder_argv(self, decoder: Path, bitstream: str, recon: str, bit_depth: int) -> list[str]:
        return [str(decoder), "-b", bitstream, "-o", recon, "-d", str(bit_depth)]
