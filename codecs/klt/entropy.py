"""Entropy coding of the klt codec's quantized coefficients: an adaptive zero-inflated geometric
model per component, coded with a range coder (constriction).

A coefficient's magnitude a = |q| is 0 with probability p0, else 1 + a geometric count with
ratio t, and its sign is one equiprobable bit. Per component, p0 and t start from a prior (the
Laplace scale the table measured on the training features, worth `prior_tokens` tokens) and
follow the counts of the tokens coded so far, updated every `block_tokens` tokens: a sample
whose statistics differ from the training features' (another layer, other texts) is coded with
its own. Encoder and decoder compute the same parameters from the same integer counts, so no side
information is sent; every bit is in the stream.

Per block the stream holds the significance flags (Bernoulli), then the nonzero coefficients,
each as one symbol v = a - 1 (positive) or -a (negative): a Laplace of mean -0.5 quantized to the
integers gives every v >= 0 half the geometric probability of a - 1 and its mirror v < 0 the
other half, so one QuantizedLaplace symbol costs exactly the sign bit plus the geometric
magnitude (constriction's QuantizedLaplace on [0, n) renormalizes the cut-off half onto 0 and
costs 10-14 % more). |v| beyond ESCAPE is followed by the excess as two 16-bit symbols.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

ESCAPE = (1 << 12) - 1  # magnitudes - 1 from here on carry their excess in two 16-bit symbols
_P_LIMIT = 1e-5  # keeps every outcome codable
_T_RANGE = (1e-3, 0.9995)


class AdaptiveModel:
    """Per-component (p0, t) of one token matrix, from prior pseudo-counts plus coded blocks."""

    def __init__(self, prior_scale: np.ndarray, step: float, deadzone: float, prior_tokens: int):
        b = np.maximum(np.asarray(prior_scale, dtype=np.float64), 1e-12)
        # A Laplace(b) coefficient quantized with this step and dead zone (to zero below
        # (1 - deadzone) * step; magnitudes above fall off by exp(-step / b) per level).
        p0 = -np.expm1(-(1.0 - deadzone) * step / b)
        t = np.clip(np.exp(-step / b), *_T_RANGE)
        w = float(prior_tokens)
        self.n = np.full(b.shape, w)
        self.zeros = w * p0
        self.nonzeros = w * (1.0 - p0)
        self.magnitude_sum = self.nonzeros / (1.0 - t)  # mean magnitude of a nonzero: 1 / (1 - t)

    def params(self) -> tuple[np.ndarray, np.ndarray]:
        """(p0, t) per component, as the next block is coded with."""
        p0 = np.clip(self.zeros / self.n, _P_LIMIT, 1.0 - _P_LIMIT)
        mean = self.magnitude_sum / np.maximum(self.nonzeros, 1e-12)
        t = np.clip((mean - 1.0) / np.maximum(mean, 1.0), *_T_RANGE)
        return p0, t

    def update(self, magnitudes: np.ndarray) -> None:
        """Count a coded block (tokens x components of |q|)."""
        self.n += magnitudes.shape[0]
        nonzero = magnitudes > 0
        self.zeros += (~nonzero).sum(axis=0)
        self.nonzeros += nonzero.sum(axis=0)
        self.magnitude_sum += magnitudes.sum(axis=0)


class BitCosts:
    """The model's code length (bits) of a magnitude with its sign, per component, under one
    block's (p0, t): -log2 p0 for a zero, else first + (a - 1) * per_level."""

    def __init__(self, p0: np.ndarray, t: np.ndarray):
        log2 = math.log(2.0)
        self.zero = -np.log(p0) / log2
        self.first = (-np.log1p(-p0) - np.log1p(-t)) / log2 + 1.0
        self.per_level = -np.log(t) / log2

    def columns(self, cols: np.ndarray) -> "BitCosts":
        """The costs of some components only."""
        part = BitCosts.__new__(BitCosts)
        part.zero, part.first, part.per_level = self.zero[cols], self.first[cols], self.per_level[cols]
        return part

    def bits(self, a: np.ndarray) -> np.ndarray:
        return np.where(a == 0, self.zero, self.first + np.maximum(a - 1, 0) * self.per_level)


def rdo_levels(magnitude: np.ndarray, a: np.ndarray, step: float, lam: float, costs: BitCosts) -> np.ndarray:
    """Dead-zone levels `a` of `magnitude`, each lowered by one where that saves more bits (under
    the block's model) than it costs in squared error at `lam`."""
    lower = np.maximum(a - 1.0, 0.0)
    keep = (magnitude - a * step) ** 2 + lam * costs.bits(a)
    drop = (magnitude - lower * step) ** 2 + lam * costs.bits(lower)
    return np.where((a > 0) & (drop < keep), lower, a)


def quantize_block(y: np.ndarray, step: float, deadzone: float, rdoq: float, costs: BitCosts) -> np.ndarray:
    """Signed integers for the coefficients `y` (tokens x components): a dead-zone quantizer
    (round |y| / step + deadzone down), then rate-distortion optimised rounding at lambda =
    rdoq * step^2 (rdo_levels)."""
    magnitude = np.abs(y)
    a = np.floor(magnitude / step + deadzone)
    if rdoq > 0:
        a = rdo_levels(magnitude, a, step, rdoq * step * step, costs)
    return (np.sign(y) * a).astype(np.int64)


def _laplace_scales(t: np.ndarray) -> np.ndarray:
    return -1.0 / np.log(t)  # QuantizedLaplace(mean -0.5, scale) on k >= 0 is geometric with ratio t


def _models():
    import constriction

    m = constriction.stream.model
    return m.Bernoulli(perfect=False), m.QuantizedLaplace(-ESCAPE - 1, ESCAPE + 1), m.Uniform(1 << 16), m.Uniform()


def match_sides(start: int, tokens: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """For the tokens start..start+tokens-1: which carry a match flag (every token but the first,
    which has no earlier token) and how many candidates each has (min(token, window))."""
    index = np.arange(start, start + tokens)
    return index > 0, np.minimum(index, window)


def _to_symbols(values: np.ndarray) -> np.ndarray:
    """Nonzero signed coefficients -> v = a - 1 (positive) or -a (negative)."""
    return np.where(values > 0, values - 1, values)


def _from_symbols(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, v + 1, v)


class BlockWriter:
    """Encodes blocks of signed integers into one range-coded stream."""

    def __init__(self) -> None:
        import constriction

        self._encoder = constriction.stream.queue.RangeEncoder()
        self._flag, self._value, self._word, self._uniform = _models()

    def write_matches(self, distances: np.ndarray, start: int, window: int, p_match: float) -> None:
        """A block's match flags (Bernoulli p_match) and the distances back of the matched tokens
        (uniform over their candidates; a token with one candidate needs none)."""
        flagged, candidates = match_sides(start, distances.size, window)
        matched = distances[flagged] > 0
        self._encoder.encode(matched.astype(np.int32), self._flag, np.full(matched.size, p_match))
        sizes = candidates[flagged][matched]
        coded = sizes > 1
        if coded.any():
            self._encoder.encode((distances[flagged][matched][coded] - 1).astype(np.int32), self._uniform,
                                 sizes[coded].astype(np.int32))

    def write(self, q: np.ndarray, p0: np.ndarray, t: np.ndarray) -> None:
        """One block (tokens x components) coded with per-component (p0, t)."""
        nonzero = q != 0
        self._encoder.encode(nonzero.ravel().astype(np.int32), self._flag,
                             np.broadcast_to(1.0 - p0, q.shape).ravel().astype(np.float64))
        v = _to_symbols(q[nonzero])
        if v.size == 0:
            return
        scales = np.broadcast_to(_laplace_scales(t), q.shape)[nonzero]
        self._encoder.encode(np.clip(v, -ESCAPE - 1, ESCAPE).astype(np.int32), self._value,
                             np.full(v.size, -0.5), scales.astype(np.float64))
        far = np.abs(np.where(v >= 0, v, -v - 1))  # the magnitude - 1 of each coefficient
        far = far[far >= ESCAPE] - ESCAPE
        if far.size:
            if far.max() >= 1 << 32:
                raise ValueError("klt: a coefficient too large for the stream format (step too small?)")
            self._encoder.encode(np.stack([far >> 16, far & 0xFFFF], axis=1).ravel().astype(np.int32), self._word)

    def stream(self) -> bytes:
        return self._encoder.get_compressed().astype("<u4").tobytes()


class BlockReader:
    """Decodes what BlockWriter wrote, block by block with the same models."""

    def __init__(self, data: bytes) -> None:
        import constriction

        if len(data) % 4:
            raise ValueError(f"klt stream of {len(data)} bytes is not whole 32-bit words")
        self._decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
        self._flag, self._value, self._word, self._uniform = _models()

    def read_matches(self, tokens: int, start: int, window: int, p_match: float) -> np.ndarray:
        """What write_matches wrote for a block of `tokens` tokens: their distances (0: none)."""
        flagged, candidates = match_sides(start, tokens, window)
        distances = np.zeros(tokens, dtype=np.int64)
        count = int(flagged.sum())
        if count == 0:
            return distances
        matched = self._decoder.decode(self._flag, np.full(count, p_match)).astype(bool)
        sizes = candidates[flagged][matched]
        values = np.ones(sizes.size, dtype=np.int64)
        coded = sizes > 1
        if coded.any():
            values[coded] = self._decoder.decode(self._uniform, sizes[coded].astype(np.int32)).astype(np.int64) + 1
        picked = np.flatnonzero(flagged)[matched]
        distances[picked] = values
        return distances

    def read(self, tokens: int, p0: np.ndarray, t: np.ndarray) -> np.ndarray:
        shape = (tokens, p0.size)
        flags = self._decoder.decode(self._flag, np.broadcast_to(1.0 - p0, shape).ravel().astype(np.float64))
        nonzero = flags.reshape(shape).astype(bool)
        q = np.zeros(shape, dtype=np.int64)
        count = int(nonzero.sum())
        if count == 0:
            return q
        scales = np.broadcast_to(_laplace_scales(t), shape)[nonzero]
        v = self._decoder.decode(self._value, np.full(count, -0.5), scales.astype(np.float64)).astype(np.int64)
        far = (v == ESCAPE) | (v == -ESCAPE - 1)
        if far.any():
            words = self._decoder.decode(self._word, 2 * int(far.sum())).astype(np.int64).reshape(-1, 2)
            excess = (words[:, 0] << 16) | words[:, 1]
            v[far] = np.where(v[far] >= 0, v[far] + excess, v[far] - excess)
        q[nonzero] = _from_symbols(v)
        return q

    def finished(self) -> Optional[str]:
        """None when the stream was read to its end, else why not (a damaged stream)."""
        return None if self._decoder.maybe_exhausted() else "data left over after the last block"
