"""The hyperprior as a codec of the one protocol (frame_kind "unit").

The shared chain (protocol.py) truncates, min-max normalises to [0,1] and packs; this codec
codes the float frame with a trained CompressAI model exactly as the reference infers: centre
zero-pad to multiples of 64, `update(force=True)`, real ANS `compress`/`decompress`, clamp to
[0,1], unpad. The rate point is the model's lambda.

Payload (little-endian):

    u8 payload version | 4 bytes model fingerprint (sha256 prefix of the checkpoint file)
    u32 rows, u32 cols (frame) | u32 padded rows, u32 padded cols | u16 z rows, u16 z cols
    u32 len(y string) | u32 len(z string) | y string | z string

The paper's BPFP counts the y and z strings (8 * their bytes); the fixed fields before them are
fcbench's own and go to the container column of the rate (`payload_parts`).

The fingerprint makes decoding with a different model a clear error instead of silent noise.
torch and compressai are imported on first use, so listing codecs stays cheap.
"""
from __future__ import annotations

import hashlib
import math
import struct
import threading
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from fcbench.codecs.chain.container import ContainerError, Header
from fcbench.codecs.chain.rate import PayloadParts
from fcbench.codecs.common.hashing import sha256_file
from fcbench.codecs.hyperprior.checkpoint import CheckpointError, local_path
from fcbench.codecs.protocol import Codec, RatePoint
from fcbench.codecs.registry import register

PAYLOAD_VERSION = 1
_FIXED = struct.Struct("<B4sIIIIHHII")


def centre_padding(rows: int, cols: int, multiple: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) zero padding that centres a frame in the next multiples."""
    ph = (multiple - rows % multiple) % multiple
    pw = (multiple - cols % multiple) % multiple
    return ph // 2, ph - ph // 2, pw // 2, pw - pw // 2


class _Model:
    """One loaded checkpoint: network (CDFs updated), lambda, config and fingerprints."""

    def __init__(self, path: Union[str, Path], device: str):
        import torch

        from fcbench.codecs.hyperprior.checkpoint import load_checkpoint
        from fcbench.codecs.hyperprior.model import ModelConfig, build_model

        self.path = local_path(path)
        state = load_checkpoint(self.path, map_location="cpu")
        self.config = ModelConfig.from_dict(dict(state["config"]))
        self.lmbda = float(state["lmbda"])
        self.task = str(state.get("task", ""))
        self.epoch = int(state.get("epoch", 0))
        self.train = dict(state.get("train", {}))
        self.source = dict(state.get("source", {}))  # an imported model: the published file it came from
        self.sha256 = sha256_file(self.path)
        self.fingerprint = bytes.fromhex(self.sha256)[:4]
        net = build_model(self.config)
        try:
            net.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint {self.path}: weights do not fit {self.config}: {exc}") from exc
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.net.update(force=True)  # entropy-coder CDFs from the trained densities (as the reference)


def _close(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)


@register("hyperprior")
class HyperpriorCodec(Codec):
    """Learned codec: `checkpoint=PATH` (one lambda) or `checkpoints={lambda: PATH}` (a sweep)."""

    frame_kind = "unit"
    rate_unit = "lambda"  # one trained model per rate-distortion trade-off
    file_options = ("checkpoint", "checkpoints")  # s3:// and models:/ URIs are staged by the callers

    def __init__(self, checkpoint: Union[str, Path, None] = None,
                 checkpoints: Optional[dict[float, Union[str, Path]]] = None, device: str = "cpu"):
        if (checkpoint is None) == (checkpoints is None):
            raise ValueError("hyperprior needs exactly one of checkpoint=PATH or checkpoints={lambda: PATH}")
        if device == "auto" or device.startswith("cuda"):
            # Streams coded on a GPU may not decode on a CPU (float differences desync the ANS
            # coder); coding is pinned to one device type and recorded in the identity.
            import torch

            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            elif not torch.cuda.is_available():
                raise RuntimeError(f"device {device!r} asked for, but no CUDA GPU is available")
        elif device != "cpu":
            raise ValueError(f"device must be 'cpu', 'cuda[:N]' or 'auto', got {device!r}")
        self.device = device
        paths = [checkpoint] if checkpoint is not None else list((checkpoints or {}).values())  # one is given
        if not paths:
            raise ValueError("checkpoints={} is empty: give at least one {lambda: PATH}")
        for p in paths:
            local_path(p)  # refuse URIs / missing files before the heavy imports
        self._models = [_Model(p, device) for p in paths]
        if checkpoints is not None:
            for (given, _), m in zip(checkpoints.items(), self._models):
                if not _close(given, m.lmbda):
                    raise ValueError(f"checkpoints[{given}] = {m.path} was trained at lambda {m.lmbda}, not {given}")
        lambdas = sorted(m.lmbda for m in self._models)
        if any(_close(a, b) for a, b in zip(lambdas, lambdas[1:])):
            raise ValueError(f"two checkpoints share a lambda: {lambdas}")
        archs = {m.config.canonical_json() for m in self._models}
        if len(archs) != 1:
            raise ValueError(f"a sweep must use one architecture config, got {sorted(archs)}")
        self._lock = threading.Lock()  # compressai's entropy coder and update() are not re-entrant

    # ---- identity and rate points --------------------------------------------------------
    @property
    def lambdas(self) -> list[float]:
        return sorted(m.lmbda for m in self._models)

    @property
    def identity(self) -> dict[str, Any]:
        import compressai

        cfg = self._models[0].config
        if len(self._models) == 1:
            binary = self._models[0].sha256
        else:  # a sweep: hash of the (lambda, file hash) list, order-independent
            listing = ",".join(f"{m.lmbda!r}:{m.sha256}" for m in sorted(self._models, key=lambda m: m.lmbda))
            binary = hashlib.sha256(listing.encode()).hexdigest()
        return {
            "name": self.name,
            "version": f"compressai-{compressai.__version__}/{cfg.arch}",
            "binary_sha256": binary,
            "cfg_sha256": cfg.sha256(),
            "options": {"config": cfg.as_dict(), "lambdas": self.lambdas, "device": self.device,
                        "checkpoints": {repr(m.lmbda): m.sha256 for m in self._models},
                        **({"sources": {repr(m.lmbda): m.source.get("sha256") for m in self._models}}
                           if any(m.source for m in self._models) else {})},
        }

    def _model(self, rate_point: RatePoint) -> _Model:
        if isinstance(rate_point, bool) or not isinstance(rate_point, (int, float, np.integer, np.floating)):
            raise ValueError(f"hyperprior rate point must be a lambda (number), got {rate_point!r}")
        for m in self._models:
            if _close(m.lmbda, rate_point):
                return m
        raise ValueError(f"no hyperprior model for lambda {rate_point}; loaded lambdas: {self.lambdas}")

    def check_rate_point(self, rate_point: RatePoint) -> None:
        self._model(rate_point)

    # ---- frame coding --------------------------------------------------------------------
    def encode_frame(self, frame: np.ndarray, rate_point: RatePoint, bit_depth: int) -> bytes:
        import torch
        import torch.nn.functional as F

        m = self._model(rate_point)
        frame = np.asarray(frame)
        if frame.ndim != 2 or frame.size == 0:
            raise ValueError(f"hyperprior codes one non-empty 2-D frame, got shape {frame.shape}")
        if not np.issubdtype(frame.dtype, np.floating):
            raise ValueError(f"hyperprior needs a float frame in [0,1], got dtype {frame.dtype}")
        if not np.all(np.isfinite(frame)):
            raise ValueError("frame contains NaN or Inf")
        if frame.min() < 0.0 or frame.max() > 1.0:
            raise ValueError(f"frame values must lie in [0,1] (min-max normalised), got [{frame.min()}, {frame.max()}]")
        rows, cols = frame.shape
        top, bottom, left, right = centre_padding(rows, cols, 64)
        x = torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32))[None, None].to(m.device)
        x = F.pad(x, (left, right, top, bottom), mode="constant", value=0.0)
        with self._lock, torch.no_grad():
            out = m.net.compress(x)
        (y_string,), (z_string,) = out["strings"]
        zr, zc = (int(s) for s in out["shape"])
        if zr > 0xFFFF or zc > 0xFFFF:
            raise ValueError(f"frame {frame.shape} is too large for the payload format")
        fixed = _FIXED.pack(PAYLOAD_VERSION, m.fingerprint, rows, cols, x.shape[2], x.shape[3], zr, zc,
                            len(y_string), len(z_string))
        return fixed + y_string + z_string

    @classmethod
    def payload_parts(cls, payload: bytes, header: Header) -> PayloadParts:
        """The bitstream is the y and z strings (as the reference counts them)."""
        p = cls.parse_payload(payload)
        return PayloadParts(bitstream_bytes=len(p["y"]) + len(p["z"]))

    @staticmethod
    def parse_payload(payload: bytes) -> dict[str, Any]:
        """Split a payload into its fields (ContainerError when it is not one of ours)."""
        if len(payload) < _FIXED.size:
            raise ContainerError(f"hyperprior payload truncated: {len(payload)} bytes < {_FIXED.size}")
        version, fp, rows, cols, prows, pcols, zr, zc, ny, nz = _FIXED.unpack_from(payload)
        if version != PAYLOAD_VERSION:
            raise ContainerError(f"unsupported hyperprior payload version {version}")
        if len(payload) != _FIXED.size + ny + nz:
            raise ContainerError(f"hyperprior payload is {len(payload)} bytes, its fields say {_FIXED.size + ny + nz}")
        y = payload[_FIXED.size : _FIXED.size + ny]
        z = payload[_FIXED.size + ny :]
        return {"fingerprint": fp, "rows": rows, "cols": cols, "padded": (prows, pcols), "z_shape": (zr, zc),
                "y": y, "z": z}

    def decode_frame(self, payload: bytes, header: Header) -> np.ndarray:
        frame, _ = self._decode(payload, header)
        return frame

    def _decode(self, payload: bytes, header: Header):
        import torch

        m = self._model(header.rate_point)
        p = self.parse_payload(payload)
        if p["fingerprint"] != m.fingerprint:
            raise ContainerError(
                f"stream was coded by a model with fingerprint {p['fingerprint'].hex()}, the loaded lambda "
                f"{m.lmbda} model {m.path} has {m.fingerprint.hex()}: decode with the encoder's checkpoint"
            )
        rows, cols = p["rows"], p["cols"]
        if (rows, cols) != tuple(header.frame):
            raise ContainerError(f"payload frame {rows}x{cols} != container frame {header.frame}")
        top, bottom, left, right = centre_padding(rows, cols, 64)
        if p["padded"] != (rows + top + bottom, cols + left + right) or p["padded"] != (64 * p["z_shape"][0], 64 * p["z_shape"][1]):
            raise ContainerError(f"inconsistent hyperprior payload sizes: frame {rows}x{cols}, padded {p['padded']}, z {p['z_shape']}")
        with self._lock, torch.no_grad():
            try:
                out = m.net.decompress([[p["y"]], [p["z"]]], torch.Size(p["z_shape"]))
            except Exception as exc:  # the C++ ANS decoder raises generic errors on garbage
                raise ContainerError(f"hyperprior entropy decoding failed: {exc}") from exc
        x_hat = out["x_hat"].clamp_(0.0, 1.0)[0, 0, top : top + rows, left : left + cols]
        return x_hat.to("cpu", torch.float32).numpy().copy(), out
