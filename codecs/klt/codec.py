"""The `klt` codec: a fitted channel transform (KLT) + dead-zone scalar quantization with
rate-distortion optimised rounding + adaptive entropy coding (frame_kind "tensor").

Per group (fcbench.codecs.klt.table), each token's channels are transformed, y = (x - mean) V,
predicted from earlier reconstructed tokens (fcbench.codecs.klt.prediction: a fixed lag, and with
a match window the closest earlier token), the residual quantized with the step of the rate point
and coded component by component with the adaptive model of fcbench.codecs.klt.entropy; decoding
is the inverse, x = (prediction + q * step) V^T + mean. Nothing is truncated: every value,
outliers included, is coded.

Rate points are QP-like integers 0..63 so the test conditions' QP grids apply: the step is
(high - low) / 1023 * 2^((qp + 8) / 6), with [low, high] the table's range (the test
conditions' range of the task it was fitted for): what VTM's QP means for a 10-bit frame of
that range (the step doubles every 6 QPs; QP 4 is 4 levels of the 10-bit grid).

Payload: u8 payload version | 4-byte table fingerprint (sha256 prefix) | u32 CRC-32 of the
quantized coefficients (and match distances) | u32 length of the stream in 32-bit words | version
2 only: u16 match window | the range-coded stream. Version 1 is a stream without matching
(match_window=0, as every stream before matching existed); version 2 carries per block the match
flags and distances before the coefficients. BPFP counts the stream (all per-sample bits); the
13 or 15 fixed bytes go to the container column. (A range decoder turns any bytes into some
symbols: the CRC of what it decoded is how a damaged stream inside an intact container is caught.)
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from fcbench.codecs.chain.container import ContainerError, Header
from fcbench.codecs.chain.rate import PayloadParts
from fcbench.codecs.common.cpus import blas_threads
from fcbench.codecs.klt.entropy import BlockReader, BlockWriter
from fcbench.codecs.klt.prediction import GroupCoder
from fcbench.codecs.klt.table import TableError, load_table
from fcbench.codecs.protocol import Codec, RatePoint
from fcbench.codecs.registry import register

CODEC_VERSION = 2  # in the identity: 2 = the match predictor exists (its streams are payload version 2)
PAYLOAD_VERSIONS = (1, 2)
_FIXED = struct.Struct("<B4sII")
_WINDOW = struct.Struct("<H")  # version 2: the match window
MAX_WINDOW = 65535
DEFAULT_WINDOW = 1024  # channels last; channels-first tables (a few channels per position) match nothing by default
QP_RANGE = (0, 63)
DEFAULT_DEADZONE = 0.35  # rounding offset: a Laplace-like source wants < 0.5 (measured in docs)
DEFAULT_RDOQ = 0.2  # lambda / step^2 of the rate-distortion optimised rounding


def step_size(qp: int, low: float, high: float) -> float:
    """The quantizer step of a QP for a table of range [low, high] (module docstring)."""
    return (high - low) / 1023.0 * 2.0 ** ((int(qp) + 8) / 6.0)


@register("klt")
class KLTCodec(Codec):
    name = "klt"
    frame_kind = "tensor"
    rate_unit = "qp"
    file_options = ("table",)  # options naming files (s3:// URIs are staged by the callers)

    def __init__(self, table: Union[str, Path, None] = None, deadzone: float = DEFAULT_DEADZONE,
                 rdoq: float = DEFAULT_RDOQ, match_window: Optional[int] = None):
        if table is None:
            raise ValueError("klt needs table=PATH: a table fitted on training features (`fcbench klt fit`)")
        if not (isinstance(deadzone, (int, float)) and 0.0 <= float(deadzone) <= 0.5):
            raise ValueError(f"klt deadzone must be a rounding offset in [0, 0.5], got {deadzone!r}")
        if not (isinstance(rdoq, (int, float)) and 0.0 <= float(rdoq) <= 10.0):
            raise ValueError(f"klt rdoq must be a number in [0, 10] (lambda / step^2), got {rdoq!r}")
        if match_window is not None and (isinstance(match_window, bool) or not isinstance(match_window, (int, np.integer))
                                         or not 0 <= int(match_window) <= MAX_WINDOW):
            raise ValueError(f"klt match_window must be an integer in 0..{MAX_WINDOW} (earlier tokens a token may be "
                             f"predicted from; 0: none), got {match_window!r}")
        if "://" in str(table):
            raise TableError(f"klt table {table}: a URI; stage it to a local file first (the CLI and pipelines do)")
        self.path = Path(table)
        self.table, self.sha256 = load_table(self.path)
        self.fingerprint = bytes.fromhex(self.sha256[:8])
        self.deadzone, self.rdoq = float(deadzone), float(rdoq)
        if match_window is None:
            match_window = DEFAULT_WINDOW if self.table.channel_axis == 3 else 0
        self.match_window = int(match_window)

    @property
    def identity(self) -> dict[str, Any]:
        import constriction

        version = getattr(constriction, "__version__", None) or _distribution_version("constriction")
        return {"name": self.name, "version": f"fcbench-klt/{CODEC_VERSION} constriction-{version}",
                "binary_sha256": self.sha256, "cfg_sha256": None,
                "options": {"deadzone": self.deadzone, "rdoq": self.rdoq, "match_window": self.match_window,
                            "table": self.table_summary()}}

    def table_summary(self) -> dict[str, Any]:
        """What the identity and reports say of the table: its fit options, size and hash."""
        t = self.table
        return {"sha256": self.sha256, "bytes": self.path.stat().st_size, "channel_axis": t.channel_axis,
                "groups": len(t.groups), "channels": t.groups[0].channels, "components": t.groups[0].components,
                "range": [t.low, t.high], "fit": t.meta.get("fit", {}), "model": t.meta.get("model", {})}

    def check_rate_point(self, rate_point: RatePoint) -> None:
        if isinstance(rate_point, bool) or not isinstance(rate_point, (int, np.integer)):
            raise ValueError(f"klt rate points are integer QPs, got {rate_point!r}")
        if not QP_RANGE[0] <= int(rate_point) <= QP_RANGE[1]:
            raise ValueError(f"klt QP must be in {QP_RANGE[0]}..{QP_RANGE[1]}, got {rate_point}")

    # ---- coding --------------------------------------------------------------------------------
    # One BLAS thread: the token-by-token prediction makes many small products, which a pool of
    # threads only slows down (and its idle threads spin: 3x the CPU time on 2 cores).
    def encode_frame(self, frame: np.ndarray, rate_point: RatePoint, bit_depth: int) -> bytes:
        with blas_threads(1):
            return self._encode(frame, rate_point)

    def decode_frame(self, payload: bytes, header: Header) -> np.ndarray:
        with blas_threads(1):
            return self._decode(payload, header)

    def _encode(self, frame: np.ndarray, rate_point: RatePoint) -> bytes:
        self.check_rate_point(rate_point)
        x = np.asarray(frame, dtype=np.float32)
        self.table.check_shape(x.shape)
        step = step_size(int(rate_point), self.table.low, self.table.high)
        lag, block, window = self.table.lag(x.shape), self.table.block(x.shape), self.match_window
        writer = BlockWriter()
        crc = 0
        for matrix, group in zip(self.table.token_matrices(x), self.table.groups):
            y = (matrix.astype(np.float64) - group.mean) @ group.basis.astype(np.float64)
            coder = GroupCoder(group, step, self.table.prior_deadzone, self.table.prior_tokens, lag, window, y.shape[0])
            for start in range(0, y.shape[0], block):
                p0, t = coder.model.params()
                q, distances = coder.quantize(y[start:start + block], start, self.deadzone, self.rdoq, p0, t)
                if window:
                    writer.write_matches(distances, start, window, coder.matches.probability())
                    coder.matches.update(distances, start)
                    crc = _checksum(distances, crc)
                writer.write(q, p0, t)
                coder.model.update(np.abs(q))
                crc = _checksum(q, crc)
        stream = writer.stream()
        fixed = _FIXED.pack(2 if window else 1, self.fingerprint, crc, len(stream) // 4)
        return fixed + (_WINDOW.pack(window) if window else b"") + stream

    def _decode(self, payload: bytes, header: Header) -> np.ndarray:
        fingerprint, crc, window, offset = self._fixed(payload)
        if fingerprint != self.fingerprint:
            raise ContainerError(f"klt stream was coded with table {fingerprint.hex()}..., this codec's table "
                                 f"{self.path} is {self.fingerprint.hex()}...: decode with the encoder's table")
        self.table.check_shape(header.shape)
        step = step_size(int(header.rate_point), self.table.low, self.table.high)
        n, c, h, w = header.shape
        tokens = n * h if self.table.channel_axis == 3 else n * h * w
        lag, block = self.table.lag(header.shape), self.table.block(header.shape)
        decoded_crc = 0
        try:
            reader = BlockReader(payload[offset:])
            matrices = []
            for group in self.table.groups:
                coder = GroupCoder(group, step, self.table.prior_deadzone, self.table.prior_tokens, lag, window, tokens)
                q = np.empty((tokens, group.components), dtype=np.int64)
                distances = np.zeros(tokens, dtype=np.int64)
                for start in range(0, tokens, block):
                    count = min(block, tokens - start)
                    if window:
                        distances[start:start + count] = reader.read_matches(count, start, window, coder.matches.probability())
                        coder.matches.update(distances[start:start + count], start)
                        decoded_crc = _checksum(distances[start:start + count], decoded_crc)
                    p0, t = coder.model.params()
                    part = reader.read(count, p0, t)
                    q[start:start + count] = part
                    coder.model.update(np.abs(part))
                    decoded_crc = _checksum(part, decoded_crc)
                matrices.append(coder.reconstruct(q, distances) @ group.basis.T.astype(np.float64) + group.mean)
            problem = reader.finished()
        except (ValueError, RuntimeError, AssertionError) as exc:  # constriction reports a broken stream as these
            # (AssertionError: "invalid for the employed entropy model", from its uniform model)
            raise ContainerError(f"klt stream cannot be decoded: {exc}") from exc
        if problem or decoded_crc != crc:
            raise ContainerError(f"klt stream is damaged: {problem or 'the decoded coefficients fail their checksum'}")
        out = self.table.tensor(matrices, header.shape).astype(np.float32)
        if not np.all(np.isfinite(out)):
            raise ContainerError("klt stream decodes to non-finite values")
        return out

    @staticmethod
    def _fixed(payload: bytes) -> tuple[bytes, int, int, int]:
        """(table fingerprint, CRC, match window, offset of the stream) of a checked payload."""
        if len(payload) < _FIXED.size:
            raise ContainerError(f"klt payload truncated: {len(payload)} bytes")
        version, fingerprint, crc, words = _FIXED.unpack_from(payload)
        if version not in PAYLOAD_VERSIONS:
            raise ContainerError(f"unsupported klt payload version {version}")
        offset, window = _FIXED.size, 0
        if version == 2:
            if len(payload) < offset + _WINDOW.size:
                raise ContainerError(f"klt payload truncated: {len(payload)} bytes")
            (window,) = _WINDOW.unpack_from(payload, offset)
            offset += _WINDOW.size
            if window == 0:
                raise ContainerError("klt payload version 2 with a match window of 0")
        if len(payload) != offset + 4 * words:
            raise ContainerError(f"klt payload is {len(payload)} bytes, its header says {offset + 4 * words}")
        return fingerprint, crc, window, offset

    @classmethod
    def payload_parts(cls, payload: bytes, header: Header) -> PayloadParts:
        """The range-coded stream is the bitstream; the version, table fingerprint, CRC and match
        window are ours."""
        return PayloadParts(bitstream_bytes=len(payload) - cls._fixed(payload)[3])


def _checksum(q: np.ndarray, crc: int) -> int:
    return zlib.crc32(np.ascontiguousarray(q, dtype="<i4").tobytes(), crc)


def _distribution_version(name: str) -> Optional[str]:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
