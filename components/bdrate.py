"""Bjontegaard deltas of one RD curve against an anchor, with the caveats made explicit.

BD-rate integrates log10(rate) as a function of the task metric over the metric range both
curves cover (the `bjontegaard` package, PCHIP). Curves are first reduced to their monotone
(Pareto) part; every reduction, short curve and partial overlap is reported as a flag instead
of being hidden in a number.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Optional, Sequence

import numpy as np

Direction = Literal["higher", "lower"]

# JCT-VC practice fits 4 rate points; PCHIP itself needs only 2, so fewer are computed and flagged.
RECOMMENDED_POINTS = 4
# Below this share of the union of the two metric ranges the integral is mostly extrapolation-free
# but covers little of either curve: flagged, still computed.
MIN_OVERLAP = 0.75


@dataclass(frozen=True)
class Curve:
    """One codec's RD points reduced to the part where more rate buys strictly more quality."""

    rates: np.ndarray  # BPFP, ascending, > 0
    values: np.ndarray  # the metric in its own units
    dropped: tuple[float, ...]  # BPFP of points removed as non-monotonic (or non-positive rate)

    @property
    def n(self) -> int:
        return int(self.rates.size)


@dataclass(frozen=True)
class BDResult:
    """BD-rate (percent, negative = fewer bits than the anchor at equal metric) and BD-metric
    (mean metric difference test - anchor at equal rate, in the metric's units) of one curve
    (`label`: a codec and its chain, RDPoint.label) against the `anchor` curve (its label)."""

    model: str
    task: str
    label: str
    anchor: str
    metric: str
    direction: Direction
    bd_rate: Optional[float]
    bd_metric: Optional[float]
    overlap_low: Optional[float]  # metric interval the BD-rate integral covers
    overlap_high: Optional[float]
    overlap_fraction: Optional[float]  # overlap / union of both metric ranges
    n_anchor: int
    n_test: int
    flags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def unreliable(self) -> tuple[str, ...]:
        """Why the BD-rate should not be trusted (empty: it can be): not computed, fewer than
        RECOMMENDED_POINTS points on a curve, or metric ranges overlapping less than MIN_OVERLAP."""
        if self.bd_rate is None:
            return ("not computed",)
        why = [f"{who} has {n} points (< {RECOMMENDED_POINTS})"
               for who, n in (("anchor", self.n_anchor), ("codec", self.n_test)) if n < RECOMMENDED_POINTS]
        if self.overlap_fraction is not None and self.overlap_fraction < MIN_OVERLAP:
            why.append(f"{self.metric or 'metric'} ranges overlap {self.overlap_fraction:.0%} (< {MIN_OVERLAP:.0%})")
        return tuple(why)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["flags"] = list(self.flags)
        d["unreliable"] = list(self.unreliable)
        return d


def _quality(values: np.ndarray, direction: Direction) -> np.ndarray:
    # Work on "quality" (larger is better) so one monotonicity rule serves both directions.
    return values if direction == "higher" else -values


def monotone_curve(rates: Sequence[float], values: Sequence[float], direction: Direction) -> Curve:
    """Sort by rate and keep each point that is strictly better than every cheaper point."""
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', got {direction!r}")
    r = np.asarray(rates, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if r.shape != v.shape or r.ndim != 1:
        raise ValueError(f"rates and values must be 1-D of equal length, got {r.shape} and {v.shape}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(v))):
        raise ValueError("RD curve has NaN or infinite rate/metric values")
    order = np.lexsort((-_quality(v, direction), r))  # by rate, best quality first on ties
    keep: list[int] = []
    dropped: list[float] = []
    best = -math.inf
    for i in order:
        q = _quality(v[i : i + 1], direction)[0]
        if r[i] > 0 and q > best:
            keep.append(int(i))
            best = q
        else:
            dropped.append(float(r[i]))
    return Curve(rates=r[keep], values=v[keep], dropped=tuple(dropped))


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def bd_compare(
    anchor: Curve,
    test: Curve,
    direction: Direction,
    *,
    model: str = "",
    task: str = "",
    label: str = "",
    anchor_name: str = "",
    metric: str = "",
) -> BDResult:
    """BD-rate and BD-metric of `test` against `anchor` (both from `monotone_curve`)."""
    import bjontegaard as bd

    flags: list[str] = []
    for which, c in (("anchor", anchor), ("test", test)):
        if c.dropped:
            flags.append(f"non-monotonic {which} curve: dropped {len(c.dropped)} point(s) at BPFP "
                         + ", ".join(_fmt(x) for x in c.dropped))
        if c.n < RECOMMENDED_POINTS:
            flags.append(f"{which} has {c.n} usable point(s): fewer than the {RECOMMENDED_POINTS} a reliable "
                         "BD-rate needs (2 are enough to compute one)")
    base: dict[str, Any] = dict(model=model, task=task, label=label, anchor=anchor_name, metric=metric,
                                direction=direction, n_anchor=anchor.n, n_test=test.n)
    if anchor.n < 2 or test.n < 2:
        flags.append("BD not computed: each curve needs >= 2 usable points")
        return BDResult(bd_rate=None, bd_metric=None, overlap_low=None, overlap_high=None,
                        overlap_fraction=None, flags=tuple(flags), **base)

    qa, qt = _quality(anchor.values, direction), _quality(test.values, direction)
    lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    union = max(qa.max(), qt.max()) - min(qa.min(), qt.min())
    fraction = max(hi - lo, 0.0) / union if union > 0 else 0.0
    # Report the interval in the metric's own units (undo the sign flip for lower-is-better).
    m_lo, m_hi = (lo, hi) if direction == "higher" else (-hi, -lo)  # read only where a BD-rate is computed
    bd_rate: Optional[float] = None
    if hi <= lo:
        flags.append(f"no overlap of {metric or 'metric'} ranges: BD-rate not computed")
    else:
        if fraction < MIN_OVERLAP:
            flags.append(f"metric ranges overlap only {fraction:.0%} of their union")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # overlap is judged above, not by the package's warning
            bd_rate = float(bd.bd_rate(anchor.rates, qa, test.rates, qt, method="pchip",
                                       require_matching_points=False, min_overlap=0))

    bd_metric: Optional[float] = None
    la, lt = np.log10(anchor.rates), np.log10(test.rates)
    if min(la.max(), lt.max()) <= max(la.min(), lt.min()):
        flags.append("no overlap of BPFP ranges: BD-metric not computed")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gain = float(bd.bd_psnr(anchor.rates, qa, test.rates, qt, method="pchip",
                                    require_matching_points=False, min_overlap=0))
        bd_metric = gain if direction == "higher" else -gain
    return BDResult(bd_rate=bd_rate, bd_metric=bd_metric, overlap_low=None if bd_rate is None else float(m_lo),
                    overlap_high=None if bd_rate is None else float(m_hi),
                    overlap_fraction=float(fraction), flags=tuple(flags), **base)
