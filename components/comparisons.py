"""What a report puts beside each codec's BD-rate on the task metric, against the same anchor:
the BD-rate on feature fidelity (the feature PSNR of the reconstruction) and the encode and
decode speed-ups, so one line of the BD-rate table shows the trade-off.

Speed-up = the anchor's mean CPU seconds per sample / the codec's, over all of each curve's
points (> 1: faster than the anchor). Both must have been measured on the same samples (the same
count) and have every time; otherwise the table says why there is no number, never 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Optional, Sequence

from fcbench.components.bdrate import BDResult, Curve, bd_compare, monotone_curve
from fcbench.components.rd_points import RDPoint

FIDELITY = "feature_psnr"


@dataclass(frozen=True)
class Comparison:
    """Beside one codec's BD-rate: its BD-rate on feature PSNR and its speed-ups."""

    fidelity: Optional[BDResult]
    speed: "Speedup"

    def as_dict(self) -> dict:
        return {"fidelity": self.fidelity.as_dict() if self.fidelity else None, "speedup": self.speed.as_dict()}


def beside(comparisons: Mapping[tuple[str, str, str], "Comparison"], b: BDResult
           ) -> tuple[Optional[BDResult], Optional[float], Optional[float], str]:
    """(BD result on feature PSNR, encode speed-up, decode speed-up, why no speed-up) of the codec
    of `b`; None where it was not compared."""
    found = comparisons.get((b.model, b.task, b.label))
    if found is None:
        return None, None, None, ""
    return found.fidelity, found.speed.enc, found.speed.dec, found.speed.why


def compare(anchor: Sequence[RDPoint], test: Sequence[RDPoint], model: str, task: str, label: str,
            anchor_name: str) -> Comparison:
    return Comparison(fidelity_bd(anchor, test, model, task, label, anchor_name),
                      speedup(anchor, test, model, task, label, anchor_name))


@dataclass(frozen=True)
class Speedup:
    """Encode / decode speed-up of a curve (`label`) against the anchor (None: not known, `why` says)."""

    model: str
    task: str
    label: str
    anchor: str
    enc: Optional[float]
    dec: Optional[float]
    why: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _mean_seconds(points: Sequence[RDPoint], which: str) -> Optional[float]:
    values = [getattr(p, which) for p in points]
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


def speedup(anchor: Sequence[RDPoint], test: Sequence[RDPoint], model: str, task: str, label: str,
            anchor_name: str) -> Speedup:
    """Speed-ups of the curve `test` against the curve `anchor` (mean CPU seconds per sample)."""
    base = dict(model=model, task=task, label=label, anchor=anchor_name)
    counts = {p.samples for p in (*anchor, *test)}
    if len(counts) != 1 or None in counts:
        return Speedup(enc=None, dec=None, why=f"not timed on the same samples (counts {sorted(map(str, counts))})",
                       **base)
    ratios, missing = {}, []
    for which in ("enc_s", "dec_s"):
        a, t = _mean_seconds(anchor, which), _mean_seconds(test, which)
        if a is None or t is None:
            missing.append(f"{which[:3]} time of {anchor_name if a is None else label}")
        ratios[which] = a / t if a is not None and t and t > 0 else None
    why = "no " + ", no ".join(missing) if missing else ""
    return Speedup(enc=ratios["enc_s"], dec=ratios["dec_s"], why=why, **base)


def fidelity_bd(anchor: Sequence[RDPoint], test: Sequence[RDPoint], model: str, task: str, label: str,
                anchor_name: str) -> Optional[BDResult]:
    """BD-rate / BD-PSNR on the feature PSNR (None when a curve has no finite feature PSNR, e.g.
    only lossless points)."""
    a, t = _fidelity_curve(anchor), _fidelity_curve(test)
    if a is None or t is None:
        return None
    return bd_compare(a, t, "higher", model=model, task=task, label=label,
                      anchor_name=anchor_name, metric=FIDELITY)


def _fidelity_curve(points: Sequence[RDPoint]) -> Optional[Curve]:
    """The feature-PSNR curve of the points that have one (None: none has, e.g. only lossless)."""
    shown = [(p.bpfp, p.feature_psnr) for p in points if p.feature_psnr is not None]
    if not shown:
        return None
    return monotone_curve([rate for rate, _ in shown], [psnr for _, psnr in shown], "higher")
