"""The fitted table of the `klt` codec: per group of channels a mean, an orthonormal basis (the
KLT, components by decreasing variance) and each component's mean magnitude on the training
features (the entropy model's prior). Like a model's weights: fitted once on training features,
never per sample; its sha256 is part of the codec's identity.

How a tensor (N, C, H, W) becomes token matrices (tokens x channels), by `channel_axis`:

    3  channels last (llama3, dinov2 layouts): channels = W, one group per C index (DINOv2 dpt's
       four layers get a table each), tokens = N * H
    1  channels first (sd3, generic): channels = C, one group, tokens = N * H * W (raster order)

File: an .npz (no pickles) holding `meta` (UTF-8 JSON) and per group g: `g<g>_mean` (C,),
`g<g>_basis` (C, K) and `g<g>_scale` (K,), float32.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

FORMAT = "fcbench-klt/1"
CHANNEL_AXIS = {"llama3": 3, "dinov2": 3, "sd3": 1, "generic": 1}  # by packing layout


class TableError(ValueError):
    """A klt table that cannot be used: not one, damaged, or not for this feature."""


@dataclass(frozen=True)
class Group:
    mean: np.ndarray  # (C,) float32
    basis: np.ndarray  # (C, K) float32, orthonormal columns, by decreasing training variance
    scale: np.ndarray  # (K,) float32: mean |coefficient| (of its prediction residual) on the training features
    rho: Optional[np.ndarray] = None  # (K,) float32: prediction from the previous token / row (0: none)

    @property
    def prediction(self) -> np.ndarray:
        return np.zeros(self.components, dtype=np.float64) if self.rho is None else self.rho.astype(np.float64)

    @property
    def channels(self) -> int:
        return int(self.mean.shape[0])

    @property
    def components(self) -> int:
        return int(self.basis.shape[1])


@dataclass(frozen=True)
class KLTTable:
    channel_axis: int
    groups: tuple[Group, ...]
    low: float  # the range whose 10-bit step is a QP's unit (docs/codecs.md, "klt")
    high: float
    meta: dict = field(default_factory=dict)  # fit options, model settings, source

    def __post_init__(self) -> None:
        if self.channel_axis not in (1, 3):
            raise TableError(f"klt table: channel_axis must be 1 or 3, got {self.channel_axis}")
        if not self.groups:
            raise TableError("klt table has no groups")
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.high > self.low):
            raise TableError(f"klt table: range [{self.low}, {self.high}] is not a finite, non-empty interval")
        for i, g in enumerate(self.groups):
            c, k = g.basis.shape if g.basis.ndim == 2 else (-1, -1)
            rho = g.prediction
            if g.mean.shape != (c,) or g.scale.shape != (k,) or rho.shape != (k,) or not 1 <= k <= c:
                raise TableError(f"klt table group {i}: mean {g.mean.shape}, basis {g.basis.shape}, scale "
                                 f"{g.scale.shape}, prediction {rho.shape} do not fit together")
            if not all(np.all(np.isfinite(a)) for a in (g.mean, g.basis, g.scale, rho)) or np.any(g.scale < 0):
                raise TableError(f"klt table group {i} holds non-finite values or negative scales")
            if np.any(np.abs(rho) >= 1):
                raise TableError(f"klt table group {i}: prediction coefficients must lie in (-1, 1)")

    # ---- the model settings the entropy coder shares with the decoder ----------------------------
    @property
    def prior_tokens(self) -> int:
        return int(self.meta.get("model", {}).get("prior_tokens", 16))

    @property
    def block_tokens(self) -> int:
        return int(self.meta.get("model", {}).get("block_tokens", 16))

    @property
    def prior_deadzone(self) -> float:
        """The dead zone the prior assumes (the encoder's may differ: the prior only starts the model)."""
        return float(self.meta.get("model", {}).get("prior_deadzone", 0.35))

    def lag(self, shape: Sequence[int]) -> int:
        """Tokens between a token and the one it is predicted from: the previous token (channels
        last), or the position one row above (channels first: W positions back)."""
        return 1 if self.channel_axis == 3 else int(shape[3])

    def block(self, shape: Sequence[int]) -> int:
        """Tokens per adaptation block: block_tokens, rounded up to whole prediction rows."""
        lag = self.lag(shape)
        return lag * -(-self.block_tokens // lag)

    # ---- tensors <-> token matrices ------------------------------------------------------------
    def check_shape(self, shape: Sequence[int]) -> None:
        """TableError unless a tensor of `shape` is one this table codes."""
        if len(shape) != 4:
            raise TableError(f"klt codes (N, C, H, W) tensors, got shape {tuple(shape)}")
        n, c, h, w = (int(s) for s in shape)
        if self.channel_axis == 3:
            if c != len(self.groups) or w != self.groups[0].channels:
                raise TableError(f"klt table fits {len(self.groups)} group(s) of {self.groups[0].channels} channels "
                                 f"(channels last), not a tensor of shape {tuple(shape)}")
        elif c != self.groups[0].channels:
            raise TableError(f"klt table fits {self.groups[0].channels} channels (channels first), not a tensor "
                             f"of shape {tuple(shape)}")

    def token_matrices(self, x: np.ndarray) -> list[np.ndarray]:
        """One (tokens, channels) matrix per group of the tensor `x`."""
        self.check_shape(x.shape)
        return token_matrices(x, self.channel_axis)

    def tensor(self, matrices: Sequence[np.ndarray], shape: Sequence[int]) -> np.ndarray:
        """The inverse of token_matrices."""
        n, c, h, w = (int(s) for s in shape)
        if self.channel_axis == 3:
            return np.ascontiguousarray(np.stack([m.reshape(n, h, w) for m in matrices], axis=1))
        return np.ascontiguousarray(matrices[0].reshape(n, h, w, c).transpose(0, 3, 1, 2))

    # ---- files -----------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        meta = {**self.meta, "format": FORMAT, "channel_axis": self.channel_axis, "groups": len(self.groups),
                "range": [float(self.low), float(self.high)]}
        arrays: dict[str, np.ndarray] = {"meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)}
        for i, g in enumerate(self.groups):
            arrays.update({f"g{i}_mean": g.mean.astype(np.float32), f"g{i}_basis": g.basis.astype(np.float32),
                           f"g{i}_scale": g.scale.astype(np.float32), f"g{i}_rho": g.prediction.astype(np.float32)})
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    def save(self, path: Union[str, Path]) -> Path:
        from fcbench.codecs.common import atomic

        atomic.write_bytes(Path(path), self.to_bytes())
        return Path(path)


def token_matrices(x: np.ndarray, channel_axis: int) -> list[np.ndarray]:
    """The (tokens, channels) matrices of an (N, C, H, W) tensor: one per C index with the channels
    last (channel_axis 3), one of the C channels of every position (channel_axis 1)."""
    n, c, h, w = x.shape
    if channel_axis == 3:
        return [x[:, g].reshape(n * h, w) for g in range(c)]
    return [x.transpose(0, 2, 3, 1).reshape(n * h * w, c)]


def load_table(path: Union[str, Path]) -> tuple[KLTTable, str]:
    """(table, sha256 of the file) from a local .npz path; TableError naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"klt table {path} does not exist (fit one with `fcbench klt fit`)")
    data = path.read_bytes()
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        meta: dict[str, Any] = json.loads(arrays["meta"].tobytes().decode())
    except Exception as exc:  # zip, npy or JSON damage: all mean "not a table we can read"
        raise TableError(f"{path} is not a klt table ({type(exc).__name__}: {exc})") from None
    if meta.get("format") != FORMAT:
        raise TableError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    try:
        groups = tuple(Group(arrays[f"g{i}_mean"], arrays[f"g{i}_basis"], arrays[f"g{i}_scale"], arrays.get(f"g{i}_rho"))
                       for i in range(int(meta["groups"])))
        low, high = (float(v) for v in meta["range"])
        table = KLTTable(int(meta["channel_axis"]), groups, low, high, meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise TableError(f"{path}: damaged klt table ({exc})") from None
    return table, hashlib.sha256(data).hexdigest()
