"""Shared driver for external all-intra VVC encoders (VTM, VVenC) run as files-in/files-out tools.

A subclass names its binaries and builds its command line; this base writes the packed frame
as raw 4:0:0 little-endian samples in a temp dir, runs the encoder (exit code checked, log kept),
cross-checks the log's version, picture count, QP and bits against the bitstream, and decodes
with the tool's own decoder when one is configured, else with PyAV's VVC decoder (bit-exact on
VTM streams). The container payload is exactly the encoder's bitstream file.
"""
from __future__ import annotations

import abc
import functools
import tempfile
from pathlib import Path
from typing import ClassVar, Optional

import numpy as np

from fcbench.codecs.backends import _av, vtm_log
from fcbench.codecs.backends._binary import ToolError, run_tool, tool_timeout
from fcbench.codecs.backends._qp import check_qp
from fcbench.codecs.chain import yuv
from fcbench.codecs.chain.container import Header
from fcbench.codecs.protocol import Codec, RatePoint, file_sha256


@functools.lru_cache(maxsize=16)
def _banner_version(binary: str, sha256: str, flag: str) -> Optional[str]:
    """Version from a tool's banner (run once per binary content; the exit code of a help
    run is not meaningful, the banner is). A tool that does not answer within
    FCBENCH_TOOL_TIMEOUT_BASE is stopped, with its children, and named in a ToolError."""
    with tempfile.TemporaryDirectory(prefix="fcbench-probe-") as cwd:
        run = run_tool([binary, flag], cwd, f"{Path(binary).name} {flag} (its version)", timeout=tool_timeout(0, 0),
                       check=False)
    return vtm_log.parse_version(run.log)


class ExternalVVCCodec(Codec):
    """Base of the VTM and VVenC backends (never registered itself)."""

    frame_kind = "integer"
    tool: ClassVar[str] = "VVC encoder"
    # VTM's picture line counts every byte written (parameter sets included); others may not.
    log_bits_are_file_bits: ClassVar[bool] = True
    version_flag: ClassVar[str] = "--help"

    encoder: Optional[Path]
    decoder: Optional[Path]
    timeout: Optional[float]

    # ---- what a subclass provides ---------------------------------------------------------
    @abc.abstractmethod
    def resolve_encoder(self) -> Path:
        """The encoder binary, or BinaryNotFound explaining how to configure it."""

    @abc.abstractmethod
    def encoder_argv(self, encoder: Path, yuv_in: str, bitstream: str, rows: int, cols: int,
                     qp: int, bit_depth: int) -> list[str]:
        """The encoder command line (run in the temp dir holding `yuv_in`)."""

    @abc.abstractmethod
    def decoder_argv(self, decoder: Path, bitstream: str, recon: str, bit_depth: int) -> list[str]:
        """The decoder command line."""

    def cfg_sha256(self) -> Optional[str]:
        return None

    def options(self) -> dict:
        return {}

    # ---- the protocol ---------------------------------------------------------------------
    def check_rate_point(self, rate_point: RatePoint) -> None:
        check_qp(self.name, rate_point, 0, 63)

    @property
    def identity(self) -> dict:
        encoder = self.resolve_encoder()
        sha = file_sha256(encoder)
        return {
            "name": self.name,
            "version": _banner_version(str(encoder), sha, self.version_flag) or "unknown",
            "binary_sha256": sha,
            "cfg_sha256": self.cfg_sha256(),
            "options": self.options(),
        }

    def encode_frame(self, frame: np.ndarray, rate_point: RatePoint, bit_depth: int) -> bytes:
        self.check_rate_point(rate_point)
        encoder = self.resolve_encoder()
        rows, cols = frame.shape
        with tempfile.TemporaryDirectory(prefix=f"fcbench-{self.name}-") as tmp:
            yuv.write_yuv400(Path(tmp) / "in.yuv", frame, bit_depth)
            argv = self.encoder_argv(encoder, "in.yuv", "out.bin", rows, cols, int(rate_point), bit_depth)
            run = run_tool(argv, tmp, f"{self.tool} encoder", tool_timeout(rows, cols, self.timeout))
            out = Path(tmp) / "out.bin"
            if not out.is_file() or out.stat().st_size == 0:
                raise ToolError(f"{self.tool} encoder exited 0 but wrote no bitstream: {' '.join(run.argv)}")
            data = out.read_bytes()
        self.check_encoder_log(run.log, data, int(rate_point))
        return data

    def check_encoder_log(self, log: str, bitstream: bytes, qp: int) -> None:
        """The log must describe this bitstream: one picture at the requested QP and its bits."""
        pictures = vtm_log.parse_encoder_log(log).pictures if "bits" in log else ()
        if not pictures and self.log_bits_are_file_bits:
            raise ToolError(f"{self.tool} encoder log has no picture line; log:\n{log[-2000:]}")
        if pictures:
            if len(pictures) != 1:
                raise ToolError(f"{self.tool} coded {len(pictures)} pictures, expected 1")
            pic = pictures[0]
            if pic.qp != qp:
                raise ToolError(f"{self.tool} coded the picture at QP {pic.qp}, asked for QP {qp} (check the cfg)")
            file_bits = 8 * len(bitstream)
            if (pic.bits != file_bits) if self.log_bits_are_file_bits else (pic.bits > file_bits):
                raise ToolError(f"{self.tool} log reports {pic.bits} bits, the bitstream has {file_bits}")

    def decode_frame(self, payload: bytes, header: Header) -> np.ndarray:
        rows, cols = header.frame
        if self.decoder is None:
            frame = _av.decode_single_frame(payload, "vvc")
        else:
            frame = self._decode_with_tool(payload, rows, cols, header.bit_depth)
        if frame.shape != (rows, cols):
            raise ToolError(f"{self.name} decoded a {frame.shape} picture, the container says {(rows, cols)}")
        return frame

    def _decode_with_tool(self, payload: bytes, rows: int, cols: int, bit_depth: int) -> np.ndarray:
        assert self.decoder is not None
        with tempfile.TemporaryDirectory(prefix=f"fcbench-{self.name}-dec-") as tmp:
            (Path(tmp) / "in.bin").write_bytes(payload)
            run = run_tool(self.decoder_argv(self.decoder, "in.bin", "rec.yuv", bit_depth), tmp,
                           f"{self.tool} decoder", tool_timeout(rows, cols, self.timeout))
            rec = Path(tmp) / "rec.yuv"
            if not rec.is_file():
                raise ToolError(f"{self.tool} decoder exited 0 but wrote no picture: {' '.join(run.argv)}")
            data = rec.read_bytes()
        try:
            return yuv.frame_from_bytes(data, rows, cols, bit_depth)
        except ValueError as exc:
            raise ToolError(f"{self.tool} decoder output does not match the container's frame: {exc}") from exc

