"""RD points: one (model, task, label, rate point) result, and its JSON/CSV files.

Pure: no MLflow here (tracking turns runs into RDPoints), so points load from results files alone.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from fcbench.codecs.common.atomic import write_bytes, write_json
from fcbench.codecs.common.types import PathLike, RatePoint

log = logging.getLogger(__name__)

UNCOMPRESSED = "uncompressed"  # the pseudo-codec of the uncompressed reference point
# An RD point's rate point: a codec's RatePoint, or a label (results from elsewhere), or None.
PointRate = Union[RatePoint, str, None]


def _finite(name: str, value: Any, where: str, allow_none: bool = False) -> Optional[float]:
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{where}: {name} is {v} (NaN/inf results are not reportable)")
    return v


@dataclass(frozen=True)
class RDPoint:
    """One (model, task, label, rate point) result: rate in BPFP and the task metric. `label` names
    the curve the point belongs to: the codec and its chain (fcbench.codecs.chain.label: x265,
    x265+side) or "uncompressed"; `codec` is the codec alone (None for the uncompressed point and
    for points saved before it was recorded apart, when the field now called label was "codec").

    bpfp is the paper's (codec bitstream + coded side information); side_bpfp shows the side
    information apart and container_bpfp fcbench's container overhead (never in bpfp).
    feature_mse / feature_psnr: fidelity of the reconstructed features (fcbench.codecs.chain.fidelity,
    means over samples; PSNR None when lossless). enc_s / dec_s: mean CPU seconds per sample
    (None when not measured).
    """

    model: str
    task: str
    label: str
    rate_point: PointRate
    bpfp: float
    ebpfp: float
    metric: str
    metric_value: float
    direction: str
    feature_mse: Optional[float]
    enc_s: Optional[float] = None
    dec_s: Optional[float] = None
    samples: Optional[int] = None
    codec_version: Optional[str] = None
    params: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    side_bpfp: Optional[float] = None
    container_bpfp: Optional[float] = None
    preset: Optional[str] = None  # the preset it was made under (fcbench.codecs.presets)
    feature_psnr: Optional[float] = None
    codec: Optional[str] = None

    def __post_init__(self) -> None:
        where = f"RD point {self.where}"
        for name in ("model", "task", "label", "metric"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{where}: {name} must be a non-empty string, got {getattr(self, name)!r}")
        if self.codec is not None and (not isinstance(self.codec, str) or not self.codec):
            raise ValueError(f"{where}: codec must be a non-empty string or absent, got {self.codec!r}")
        if self.direction not in ("higher", "lower"):
            raise ValueError(f"{where}: direction must be 'higher' or 'lower', got {self.direction!r}")
        # Normalise numbers once so every consumer sees floats (JSON/CSV/MLflow give str/int).
        set_ = object.__setattr__
        set_(self, "bpfp", _finite("bpfp", self.bpfp, where))
        set_(self, "ebpfp", _finite("ebpfp", self.ebpfp, where))
        set_(self, "metric_value", _finite("metric_value", self.metric_value, where))
        for name in ("feature_mse", "feature_psnr", "enc_s", "dec_s", "side_bpfp", "container_bpfp"):
            set_(self, name, _finite(name, getattr(self, name), where, allow_none=True))
        if self.bpfp < 0 or self.ebpfp < 0 or (self.side_bpfp or 0) < 0 or (self.container_bpfp or 0) < 0:
            raise ValueError(f"{where}: negative rate (bpfp={self.bpfp}, ebpfp={self.ebpfp}, "
                             f"side_bpfp={self.side_bpfp}, container_bpfp={self.container_bpfp})")
        if self.side_bpfp is not None and self.side_bpfp > self.bpfp:
            raise ValueError(f"{where}: side_bpfp {self.side_bpfp} is part of bpfp {self.bpfp}, cannot exceed it")
        if self.samples is not None:
            set_(self, "samples", int(self.samples))
        if not isinstance(self.params, dict) or not isinstance(self.tags, dict):
            raise ValueError(f"{where}: params and tags must be dicts")

    @property
    def where(self) -> str:
        """model/task/label@rate point, for messages."""
        return f"{getattr(self, 'model', '?')}/{getattr(self, 'task', '?')}/{getattr(self, 'label', '?')}@{getattr(self, 'rate_point', '?')}"

    @property
    def name(self) -> str:
        """The point's one name (fcbench.codecs.common.types.point_name): x265@qp32, av1@crf33,
        hyperprior@lambda0.01, uncompressed; KFP metrics and MLflow run names use it."""
        from fcbench.codecs.common.types import point_name

        if self.label == UNCOMPRESSED or self.rate_point is None:
            return self.label
        if isinstance(self.rate_point, str):  # a rate point named by results from elsewhere
            return f"{self.label}@{self.rate_point}"
        return point_name(self.label, self.rate_point, self.params.get("rate_unit"))

    @property
    def key(self) -> tuple:
        return (self.model, self.task, self.label, str(self.rate_point))

    def __hash__(self) -> int:  # params/tags are dicts: hash the identity, not every field
        return hash(self.key)

    @classmethod
    def from_dict(cls, d: dict, source: str = "") -> "RDPoint":
        if "label" not in d and "codec" in d:  # saved before the label had its own name: "codec" held it
            d = {**d, "label": d["codec"], "codec": None}
        names = {f.name for f in fields(cls)}
        where = f" in {source}" if source else ""
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"RD point{where} has unknown keys {unknown}")
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing = sorted(required - set(d))
        if missing:
            raise ValueError(f"RD point{where} lacks keys {missing}")
        return cls(**d)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ---------------------------------------------------------------- load / save


def _points_in(doc: Any) -> Optional[list]:
    """The point dicts of a results JSON document, or None if it is not a results document."""
    if isinstance(doc, dict) and "points" in doc and isinstance(doc["points"], list):
        return doc["points"]
    if _is_point(doc):
        return [doc]
    if isinstance(doc, list) and doc and all(_is_point(x) for x in doc):
        return doc
    return None


def _is_point(doc: Any) -> bool:
    return isinstance(doc, dict) and ("label" in doc or "codec" in doc) and "bpfp" in doc


def _load_json(path: Path, strict: bool) -> list[RDPoint]:
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    dicts = _points_in(doc)
    if dicts is None:
        if strict:
            raise ValueError(f"{path}: not a results file (expected a point, a list of points or {{'points': [...]}})")
        log.debug("skipping %s: not a results file", path)
        return []
    return [RDPoint.from_dict(d, source=str(path)) for d in dicts]


def load_points_csv(path: PathLike) -> list[RDPoint]:
    """Read a CSV written by save_points_csv (params/tags are JSON columns)."""
    path = Path(path)
    out = []
    with path.open(newline="") as f:
        for i, row in enumerate(csv.DictReader(f), start=2):
            d: dict[str, Any] = {}
            for k, v in row.items():
                if k in ("params", "tags"):
                    d[k] = json.loads(v) if v else {}
                elif k == "rate_point":
                    d[k] = _parse_rate_point(v)
                else:
                    d[k] = None if v == "" else v
            out.append(RDPoint.from_dict(d, source=f"{path}:{i}"))
    return out


def _parse_rate_point(v: str) -> PointRate:
    if v == "":
        return None
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def load_points(*paths: PathLike) -> list[RDPoint]:
    """Points from results files: .json (a point, a list, or {"points": [...]}), .csv, or
    directories searched recursively for *.json results (other JSON documents, such as
    feature-set manifests, are skipped). Exact duplicates are merged; conflicting results for
    the same (model, task, label, rate point) are an error."""
    points: list[RDPoint] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = [pt for f in sorted(p.rglob("*.json")) for pt in _load_json(f, strict=False)]
            if not found:
                raise ValueError(f"{p}: no results JSON files with RD points found")
            points += found
        elif p.suffix == ".csv":
            points += load_points_csv(p)
        elif p.is_file():
            points += _load_json(p, strict=True)
        else:
            raise FileNotFoundError(f"results path {p} does not exist")
    return dedupe(points)


def with_preset(points: Iterable[RDPoint], preset: Optional[str]) -> list[RDPoint]:
    """The points labelled with `preset` where they have none; a point made under another
    preset is an error (its numbers are not comparable)."""
    out = []
    for p in points:
        if preset is not None and p.preset not in (None, preset):
            raise ValueError(f"{p.where} was made under preset {p.preset!r}, not {preset!r}")
        out.append(p if p.preset is not None or preset is None else replace(p, preset=preset))
    return out


def report_preset(points: Sequence[RDPoint]) -> Optional[str]:
    """The one preset of a report's points (None: not recorded); mixing presets is an error."""
    names = sorted({p.preset for p in points if p.preset is not None})
    if len(names) > 1:
        raise ValueError(f"points of presets {names} cannot share a report: their numbers are not comparable")
    if names and any(p.preset is None for p in points):
        raise ValueError(f"some points record preset {names[0]!r} and others none; label them (fcbench report --preset)")
    return names[0] if names else None


def preset_line(name: Optional[str]) -> str:
    """How a report names its preset (and what the preset means)."""
    if name is None:
        return "Preset: not recorded."
    from fcbench.codecs.presets import load_presets

    known = load_presets().get(name)
    return f"Preset: `{name}`" + (f": {known.description}" if known else " (unknown here).")


def dedupe(points: Iterable[RDPoint]) -> list[RDPoint]:
    seen: dict[tuple, RDPoint] = {}
    for pt in points:
        old = seen.get(pt.key)
        if old is None:
            seen[pt.key] = pt
        elif (old.bpfp, old.metric_value) != (pt.bpfp, pt.metric_value):
            raise ValueError(f"conflicting results for {pt.where}: bpfp {old.bpfp} vs {pt.bpfp}, "
                             f"{pt.metric} {old.metric_value} vs {pt.metric_value}")
    return list(seen.values())


def save_points_json(points: Sequence[RDPoint], path: PathLike) -> Path:
    write_json(path, {"points": [p.as_dict() for p in points]})
    return Path(path)


_CSV_COLUMNS = [f.name for f in fields(RDPoint)]


def points_csv_text(points: Sequence[RDPoint]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for p in points:
        row = p.as_dict()
        row["params"] = json.dumps(p.params, sort_keys=True)
        row["tags"] = json.dumps(p.tags, sort_keys=True)
        w.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def save_points_csv(points: Sequence[RDPoint], path: PathLike) -> Path:
    write_bytes(path, points_csv_text(points).encode())
    return Path(path)
