"""The `klt` codec: a fitted channel transform (KLT) + dead-zone scalar quantization with
rate-distortion optimised rounding + adaptive entropy coding (frame_kind "tensor").

Per group (fcbench.codecs.klt.table), each token's channels are transformed, y = (x - mean) V,
quantized with the step of the rate point, and coded component by component with the adaptive
model of fcbench.codecs.klt.entropy; decoding is the inverse, x = q * step * V^T + mean. Nothing
is truncated: every value, outliers included, is coded.

Rate points are QP-like integers 0..63 so the test conditions' QP grids apply: the step is
(high - low) / 1023 * 2^((qp + 8) / 6), with [low, high] the table's range (the test
conditions' range of the task it was fitted for): what VTM's QP means for a 10-bit frame of
that range (the step doubles every 6 QPs; QP 4 is 4 levels of the 10-bit grid).

Payload: u8 payload version | 4-byte table fingerprint (sha256 prefix) | u32 CRC-32 of the
quantized coefficients | u32 length of the stream in 32-bit words | the range-coded stream.
BPFP counts the stream (all per-sample bits); the 13 fixed bytes go to the container column. (A range decoder turns any bytes into some
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
from fcbench.codecs.klt.entropy import AdaptiveModel, BlockReader, BlockWriter, quantize_block
from fcbench.codecs.klt.table import TableError, load_table
from fcbench.codecs.protocol import Codec, RatePoint
from fcbench.codecs.registry import register

PAYLOAD_VERSION = 1
_FIXED = struct.Struct("<B4sII")
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
                 rdoq: float = DEFAULT_RDOQ):
        if table is None:
            raise ValueError("klt needs table=PATH: a table fitted on training features (`fcbench klt fit`)")
        if not (isinstance(deadzone, (int, float)) and 0.0 <= float(deadzone) <= 0.5):
            raise ValueError(f"klt deadzone must be a rounding offset in [0, 0.5], got {deadzone!r}")
        if not (isinstance(rdoq, (int, float)) and 0.0 <= float(rdoq) <= 10.0):
            raise ValueError(f"klt rdoq must be a number in [0, 10] (lambda / step^2), got {rdoq!r}")
        if "://" in str(table):
            raise TableError(f"klt table {table}: a URI; stage it to a local file first (the CLI and pipelines do)")
        self.path = Path(table)
        self.table, self.sha256 = load_table(self.path)
        self.fingerprint = bytes.fromhex(self.sha256[:8])
        self.deadzone, self.rdoq = float(deadzone), float(rdoq)

    @property
    def identity(self) -> dict[str, Any]:
        import constriction

        version = getattr(constriction, "__version__", None) or _distribution_version("constriction")
        return {"name": self.name, "version": f"fcbench-klt/{PAYLOAD_VERSION} constriction-{version}",
                "binary_sha256": self.sha256, "cfg_sha256": None,
                "options": {"deadzone": self.deadzone, "rdoq": self.rdoq, "table": self.table_summary()}}

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
    def encode_frame(self, frame: np.ndarray, rate_point: RatePoint, bit_depth: int) -> bytes:
        self.check_rate_point(rate_point)
        x = np.asarray(frame, dtype=np.float32)
        self.table.check_shape(x.shape)
        step = step_size(int(rate_point), self.table.low, self.table.high)
        lag, block = self.table.lag(x.shape), self.table.block(x.shape)
        writer = BlockWriter()
        crc = 0
        for matrix, group in zip(self.table.token_matrices(x), self.table.groups):
            y = (matrix.astype(np.float64) - group.mean) @ group.basis.astype(np.float64)
            coder = _GroupCoder(group, step, self.table.prior_deadzone, self.table.prior_tokens, lag)
            for start in range(0, y.shape[0], block):
                p0, t = coder.model.params()
                q = coder.quantize(y[start:start + block], start, self.deadzone, self.rdoq, p0, t)
                writer.write(q, p0, t)
                coder.model.update(np.abs(q))
                crc = _checksum(q, crc)
        stream = writer.stream()
        return _FIXED.pack(PAYLOAD_VERSION, self.fingerprint, crc, len(stream) // 4) + stream

    def decode_frame(self, payload: bytes, header: Header) -> np.ndarray:
        version, fingerprint, crc = self._fixed(payload)
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
            reader = BlockReader(payload[_FIXED.size:])
            matrices = []
            for group in self.table.groups:
                coder = _GroupCoder(group, step, self.table.prior_deadzone, self.table.prior_tokens, lag)
                q = np.empty((tokens, group.components), dtype=np.int64)
                for start in range(0, tokens, block):
                    p0, t = coder.model.params()
                    part = reader.read(min(block, tokens - start), p0, t)
                    q[start:start + part.shape[0]] = part
                    coder.model.update(np.abs(part))
                    decoded_crc = _checksum(part, decoded_crc)
                matrices.append(coder.reconstruct(q) @ group.basis.T.astype(np.float64) + group.mean)
            problem = reader.finished()
        except (ValueError, RuntimeError) as exc:  # constriction reports a broken stream as these
            raise ContainerError(f"klt stream cannot be decoded: {exc}") from exc
        if problem or decoded_crc != crc:
            raise ContainerError(f"klt stream is damaged: {problem or 'the decoded coefficients fail their checksum'}")
        out = self.table.tensor(matrices, header.shape).astype(np.float32)
        if not np.all(np.isfinite(out)):
            raise ContainerError("klt stream decodes to non-finite values")
        return out

    @staticmethod
    def _fixed(payload: bytes) -> tuple[int, bytes, int]:
        if len(payload) < _FIXED.size:
            raise ContainerError(f"klt payload truncated: {len(payload)} bytes")
        version, fingerprint, crc, words = _FIXED.unpack_from(payload)
        if version != PAYLOAD_VERSION:
            raise ContainerError(f"unsupported klt payload version {version}")
        if len(payload) != _FIXED.size + 4 * words:
            raise ContainerError(f"klt payload is {len(payload)} bytes, its header says {_FIXED.size + 4 * words}")
        return version, fingerprint, crc

    @classmethod
    def payload_parts(cls, payload: bytes, header: Header) -> PayloadParts:
        """The range-coded stream is the bitstream; the version, table fingerprint and CRC are ours."""
        cls._fixed(payload)
        return PayloadParts(bitstream_bytes=len(payload) - _FIXED.size)


class _GroupCoder:
    """One group's coefficients: the adaptive model, and the prediction of the predicted
    components (rho != 0) from the reconstruction `lag` tokens back, which the encoder quantizes
    against (closed loop) and the decoder undoes."""

    def __init__(self, group, step: float, prior_deadzone: float, prior_tokens: int, lag: int):
        self.rho = group.prediction
        self.predicted = self.rho != 0
        self.step, self.lag = step, lag
        self.model = AdaptiveModel(group.scale, step, prior_deadzone, prior_tokens)
        self.previous: Optional[np.ndarray] = None  # the last reconstructed row of the predicted components (encoder)

    def quantize(self, y: np.ndarray, start: int, deadzone: float, rdoq: float, p0: np.ndarray,
                 t: np.ndarray) -> np.ndarray:
        """The block y (tokens x components) starting at token `start` -> its integers."""
        q = np.empty(y.shape, dtype=np.int64)
        plain = ~self.predicted
        q[:, plain] = quantize_block(y[:, plain], self.step, deadzone, rdoq, p0[plain], t[plain])
        if not self.predicted.any():
            return q
        rho, cols = self.rho[self.predicted], self.predicted
        for row in range(0, y.shape[0], self.lag):  # a row of `lag` tokens depends on the row before it
            previous = self.previous if self.previous is not None else np.zeros((self.lag, int(cols.sum())))
            prediction = rho * previous[: min(self.lag, y.shape[0] - row)]
            part = quantize_block(y[row:row + self.lag, cols] - prediction, self.step, deadzone, rdoq, p0[cols], t[cols])
            q[row:row + self.lag, cols] = part
            self.previous = prediction + part * self.step
        return q

    def reconstruct(self, q: np.ndarray) -> np.ndarray:
        """Coefficients from all of a group's integers (tokens x components)."""
        y = q * self.step
        if self.predicted.any():
            from scipy.signal import lfilter

            cols = np.flatnonzero(self.predicted)
            rows = y.shape[0] // self.lag
            for k in cols:  # y[r] = e[r] + rho * y[r - 1], row by row of `lag` tokens
                y[:, k] = lfilter([1.0], [1.0, -self.rho[k]], y[:, k].reshape(rows, self.lag), axis=0).ravel()
        return y


def _checksum(q: np.ndarray, crc: int) -> int:
    return zlib.crc32(np.ascontiguousarray(q, dtype="<i4").tobytes(), crc)


def _distribution_version(name: str) -> Optional[str]:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
