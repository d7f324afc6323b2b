"""Truncation ranges fitted to data: quantiles of training features, per channel.

The paper fixes one range per task ([-5, 5] for Llama, [-20, 20] for DINOv2, one per layer for
depth). A fitted range table takes, for every entry along one axis, the `tail` and `1 - tail`
quantiles of training features instead:

    axis None: one range for the whole tensor
    axis 1:    one per C index (the layer of dpt features, the latent channel of SD3)
    axis 3:    one per hidden channel of token layouts (llama3, dinov2 cls/seg: (N, 1, T, D))

A table becomes coding conditions (`low`, `high`, `range_axis`), so the container carries it
(long tables as zstd'd float32, counted in the container column: the table is fitted once on
training data and is the same for every sample, like the test conditions' ranges). Tables are
saved as JSON (`fcbench ranges fit`) and read back with `load`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np

from fcbench.codecs.chain.transforms import to_float32
from fcbench.codecs.common import atomic

FORMAT = "fcbench-ranges/1"
AXES = (None, 1, 3)
DEFAULT_MAX_VALUES = 32_000_000  # values kept for fitting (deterministic column subsample)
MANTISSA_BITS = 8  # fitted ends are rounded outward to this many significant bits


@dataclass(frozen=True)
class RangeTable:
    axis: Optional[int]
    low: list[float]
    high: list[float]
    tail: float
    samples: int
    values: int  # values the quantiles were taken over
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.axis not in AXES:
            raise ValueError(f"range axis must be one of {AXES} (none, the C index, the hidden channel), got {self.axis!r}")
        if len(self.low) != len(self.high) or not self.low:
            raise ValueError(f"range table needs as many lows as highs (>0), got {len(self.low)} and {len(self.high)}")
        if self.axis is None and len(self.low) != 1:
            raise ValueError(f"a table without an axis holds one range, not {len(self.low)}")
        lo, hi = np.asarray(self.low, dtype=np.float64), np.asarray(self.high, dtype=np.float64)
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))) or np.any(hi <= lo):
            bad = int(np.flatnonzero(~(hi > lo))[0]) if np.any(~(hi > lo)) else -1
            raise ValueError(f"range table entry {bad} is not a finite low < high")

    def conditions(self) -> dict:
        """The coding conditions that select this table (merge into Codec.encode's keywords)."""
        if self.axis is None:
            return {"low": self.low[0], "high": self.high[0], "range_axis": 1}
        return {"low": list(self.low), "high": list(self.high), "range_axis": self.axis}

    def as_json(self) -> dict:
        return {"format": FORMAT, **asdict(self)}


def _outward(low: np.ndarray, high: np.ndarray, bits: int = MANTISSA_BITS) -> tuple[np.ndarray, np.ndarray]:
    """Round low down and high up to `bits` significant bits (exact in float32; a short
    mantissa makes the stored table compress ~2x), with high > low even for a constant channel."""
    def rounded(v: np.ndarray, op) -> np.ndarray:
        m, e = np.frexp(v)
        return np.ldexp(op(m * 2.0**bits) / 2.0**bits, e)

    lo, hi = rounded(low, np.floor), rounded(high, np.ceil)
    flat = hi <= lo
    pad = np.maximum(np.abs(lo) * 2.0**-bits, 2.0**-10)
    return np.where(flat, rounded(lo - pad, np.floor), lo), np.where(flat, rounded(hi + pad, np.ceil), hi)


def _columns(x: np.ndarray, axis: Optional[int], index: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"training sample {index} has shape {x.shape}, not (N, C, H, W)")
    to_float32(x, f"training sample {index}")
    if axis is None:
        return x.reshape(1, -1)
    return np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)


def fit(samples: Iterable[np.ndarray], axis: Optional[int] = 3, tail: float = 1e-4,
        max_values: int = DEFAULT_MAX_VALUES, seed: int = 0, **meta) -> RangeTable:
    """Fit a range table on training samples: per entry of `axis`, the `tail` and `1 - tail`
    quantiles (tail 0: min and max), rounded outward to 8 significant bits."""
    if axis not in AXES:
        raise ValueError(f"range axis must be one of {AXES}, got {axis!r}")
    if not 0.0 <= float(tail) < 0.5:
        raise ValueError(f"tail must be in [0, 0.5), got {tail!r}")
    cols: list[np.ndarray] = []
    n = 0
    for i, x in enumerate(samples):
        c = _columns(x, axis, i)
        if cols and c.shape[0] != cols[0].shape[0]:
            raise ValueError(f"training sample {i} has {c.shape[0]} entries on axis {axis}, "
                             f"the first had {cols[0].shape[0]}")
        cols.append(c.astype(np.float32, copy=False))
        n += 1
    if not cols:
        raise ValueError("no training samples to fit ranges on")
    data = np.concatenate(cols, axis=1)
    per_entry = max(1, max_values // data.shape[0])
    if data.shape[1] > per_entry:
        keep = np.sort(np.random.default_rng(seed).choice(data.shape[1], size=per_entry, replace=False))
        data = data[:, keep]
    q = np.quantile(data, [float(tail), 1.0 - float(tail)], axis=1).astype(np.float64)
    lo, hi = _outward(q[0], q[1])
    return RangeTable(axis, [float(v) for v in lo], [float(v) for v in hi], float(tail), n,
                      int(data.size), dict(meta))


def save(table: RangeTable, path: Union[str, Path]) -> None:
    atomic.write_json(path, table.as_json())


def load(path: Union[str, Path]) -> RangeTable:
    """Read a saved table; a bad file raises ValueError naming it and the problem."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"range table {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"range table {path} is not readable JSON ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"range table {path} is not an {FORMAT} file")
    try:
        return RangeTable(obj["axis"], [float(v) for v in obj["low"]], [float(v) for v in obj["high"]],
                          float(obj["tail"]), int(obj["samples"]), int(obj["values"]), dict(obj.get("meta") or {}))
    except KeyError as exc:
        raise ValueError(f"range table {path} lacks the field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"range table {path}: {exc}") from None
