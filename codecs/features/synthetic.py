"""Synthetic heavy-tailed token features, for measuring coding chains without a large model.

Two kinds, both (1, 1, tokens, channels) float32 like a transformer's hidden states (packing
`llama3`), with the token correlation a frame codec can exploit:

    massive   a residual stream: a smooth body (AR(1) along tokens) at channel scales around
              0.6, two "massive activation" channels that reach 60..120 on the first token of
              every sequence and on ~1 % of other tokens, and four outlier channels with dense
              offsets of 4..8 (what real residual streams show: one MiniLM channel reaches 121)
    student   heavy tails everywhere: Student-t (3 degrees of freedom) innovations, no
              outlier channels, so values past any range are scattered, not concentrated

Deterministic for a seed; channel roles depend only on `structure_seed`, so a training set and
a test set made with different seeds share their outlier channels, as real features do.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

Kind = Literal["massive", "student"]
KINDS: tuple[str, ...] = ("massive", "student")


def _ar_tokens(innovations: np.ndarray, rho: float) -> np.ndarray:
    x = np.empty_like(innovations)
    x[0] = innovations[0]
    gain = np.sqrt(1.0 - rho * rho)
    for t in range(1, x.shape[0]):
        x[t] = rho * x[t - 1] + gain * innovations[t]
    return x


def heavy_tailed(kind: Kind, tokens: int = 512, channels: int = 384, seed: int = 0,
                 sequence: int = 17, structure_seed: int = 1234) -> np.ndarray:
    """A (1, 1, tokens, channels) float32 feature of the given kind (see the module doc)."""
    if kind not in KINDS:
        raise ValueError(f"unknown synthetic kind {kind!r}; choose one of {KINDS}")
    if tokens < 2 or channels < 8:
        raise ValueError(f"need at least 2 tokens and 8 channels, got {tokens} x {channels}")
    structure = np.random.default_rng(structure_seed)
    scales = 0.6 * np.exp(structure.normal(0.0, 0.3, channels))
    special = structure.choice(channels, size=6, replace=False)
    rng = np.random.default_rng(seed)
    if kind == "student":
        body = _ar_tokens(rng.standard_t(3, size=(tokens, channels)), 0.8)
        return (0.7 * body * scales)[None, None].astype(np.float32)
    body = _ar_tokens(rng.normal(size=(tokens, channels)), 0.9) * scales
    starts = np.zeros(tokens, dtype=bool)
    starts[::sequence] = True
    starts |= rng.random(tokens) < 0.01
    for i, c in enumerate(special[:2]):
        body[starts, c] = (120.0 if i == 0 else -60.0) + rng.normal(0.0, 1.0, int(starts.sum()))
    offsets = structure.uniform(4.0, 8.0, 4) * structure.choice([-1.0, 1.0], 4)
    body[:, special[2:]] += offsets
    return body[None, None].astype(np.float32)
