"""RD points, RD tables, RD plots and BD-rate reports, from local results or MLflow runs.

Pure: no MLflow here (tracking.py turns runs into RDPoints and logs a Report), so a report can
be rebuilt from results JSON files alone.
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

from fcbench.codecs.atomic import write_bytes, write_json
from fcbench.codecs.types import PathLike, RatePoint
from fcbench.components.bdrate import BDResult, bd_compare, monotone_curve

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
    """One (model, task, codec, rate point) result: rate in BPFP and the task metric.

    bpfp is the paper's (codec bitstream + coded side information); side_bpfp shows the side
    information apart and container_bpfp fcbench's container overhead (never in bpfp).
    """

    model: str
    task: str
    codec: str
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

    def __post_init__(self) -> None:
        where = f"RD point {self.label}"
        for name in ("model", "task", "codec", "metric"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{where}: {name} must be a non-empty string, got {getattr(self, name)!r}")
        if self.direction not in ("higher", "lower"):
            raise ValueError(f"{where}: direction must be 'higher' or 'lower', got {self.direction!r}")
        # Normalise numbers once so every consumer sees floats (JSON/CSV/MLflow give str/int).
        set_ = object.__setattr__
        set_(self, "bpfp", _finite("bpfp", self.bpfp, where))
        set_(self, "ebpfp", _finite("ebpfp", self.ebpfp, where))
        set_(self, "metric_value", _finite("metric_value", self.metric_value, where))
        for name in ("feature_mse", "enc_s", "dec_s", "side_bpfp", "container_bpfp"):
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
    def label(self) -> str:
        return f"{getattr(self, 'model', '?')}/{getattr(self, 'task', '?')}/{getattr(self, 'codec', '?')}@{getattr(self, 'rate_point', '?')}"

    @property
    def key(self) -> tuple:
        return (self.model, self.task, self.codec, str(self.rate_point))

    def __hash__(self) -> int:  # params/tags are dicts: hash the identity, not every field
        return hash(self.key)

    @classmethod
    def from_dict(cls, d: dict, source: str = "") -> "RDPoint":
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
    if isinstance(doc, dict) and "codec" in doc and "bpfp" in doc:
        return [doc]
    if isinstance(doc, list) and doc and all(isinstance(x, dict) and "codec" in x and "bpfp" in x for x in doc):
        return doc
    return None


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
    the same (model, task, codec, rate point) are an error."""
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
            raise ValueError(f"{p.label} was made under preset {p.preset!r}, not {preset!r}")
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
            raise ValueError(f"conflicting results for {pt.label}: bpfp {old.bpfp} vs {pt.bpfp}, "
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


# ---------------------------------------------------------------- report


@dataclass
class Report:
    """What build_report wrote, and the BD-rate table it computed."""

    out_dir: Path
    markdown: Path
    points_csv: Path
    bdrate_csv: Path
    bdrate_json: Path
    plots: list[Path]
    bd: list[BDResult]
    flags: list[str]  # group-level notes: missing anchor, fallback anchor used
    text: str  # the Markdown

    @property
    def files(self) -> list[Path]:
        return [self.markdown, self.points_csv, self.bdrate_csv, self.bdrate_json, *self.plots]


def _group(points: Sequence[RDPoint]) -> dict[tuple[str, str], list[RDPoint]]:
    groups: dict[tuple[str, str], list[RDPoint]] = {}
    for p in points:
        groups.setdefault((p.model, p.task), []).append(p)
    for (model, task), pts in groups.items():
        specs = {(p.metric, p.direction) for p in pts}
        if len(specs) > 1:
            raise ValueError(f"{model}/{task}: points disagree on the metric/direction: {sorted(specs)}")
    return dict(sorted(groups.items()))


def _codecs(pts: Sequence[RDPoint]) -> dict[str, list[RDPoint]]:
    by: dict[str, list[RDPoint]] = {}
    for p in sorted(pts, key=lambda p: (p.codec, p.bpfp)):
        by.setdefault(p.codec, []).append(p)
    return by


def _choose_anchor(model: str, task: str, codecs: Sequence[str], anchor: str, fallback: Optional[str]) -> tuple[Optional[str], list[str]]:
    if anchor in codecs:
        return anchor, []
    if fallback and fallback in codecs:
        return fallback, [f"{model}/{task}: anchor {anchor!r} absent; BD-rate against fallback anchor {fallback!r}"]
    why = f"fallback {fallback!r} absent too" if fallback else "no fallback anchor given"
    return None, [f"{model}/{task}: anchor {anchor!r} absent ({why}); BD-rate not computed. Codecs: {', '.join(codecs)}"]


def compute_bd(points: Sequence[RDPoint], anchor: str = "vtm", fallback_anchor: Optional[str] = None) -> tuple[list[BDResult], list[str]]:
    """BD-rate/BD-metric of every codec against the anchor, per (model, task)."""
    results: list[BDResult] = []
    notes: list[str] = []
    for (model, task), pts in _group(points).items():
        curves = {c: ps for c, ps in _codecs(pts).items() if c != UNCOMPRESSED}
        chosen, msgs = _choose_anchor(model, task, sorted(curves), anchor, fallback_anchor)
        notes += msgs
        if chosen is None:
            continue
        metric, direction = pts[0].metric, pts[0].direction
        ref = monotone_curve([p.bpfp for p in curves[chosen]], [p.metric_value for p in curves[chosen]], direction)
        for codec, ps in curves.items():
            if codec == chosen:
                continue
            test = monotone_curve([p.bpfp for p in ps], [p.metric_value for p in ps], direction)
            results.append(bd_compare(ref, test, direction, model=model, task=task, codec=codec,
                                      anchor_name=chosen, metric=metric))
    return results, notes


def _num(x: Optional[float], fmt: str = ".4g") -> str:
    return "" if x is None else format(x, fmt)


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def _chain_table(pts: Sequence[RDPoint]) -> list[str]:
    """Which coding chain each codec label used (params chain.* of its points), when any
    point says (fcbench.codecs.chain.describe)."""
    chains: dict[str, dict] = {}
    for p in pts:
        if any(k.startswith("chain.") for k in p.params):
            chains.setdefault(p.codec, {k[len("chain."):]: v for k, v in p.params.items() if k.startswith("chain.")})
    if not chains:
        return []

    def side(c: dict) -> str:
        on = str(c.get("outliers")).lower() in ("true", "1")
        return f"on: {c.get('outlier_bits')}-bit values, {c.get('outlier_fill')} fill" if on else "off"

    rows = [(codec, c.get("ranges", ""), side(c)) for codec, c in chains.items()]
    return ["", "Coding chains (docs/codecs.md, 'Outliers and fitted ranges'):", ""] + _md_table(
        ("codec", "truncation ranges", "outlier side channel"), rows)


def render_markdown(points: Sequence[RDPoint], bd: Sequence[BDResult], notes: Sequence[str], title: str, plots: dict[tuple[str, str], str]) -> str:
    lines = [f"# {title}", "", preset_line(report_preset(points)), ""]
    for (model, task), pts in _group(points).items():
        metric, direction = pts[0].metric, pts[0].direction
        lines += [f"## {model} / {task}", "", f"Metric: {metric} ({direction} is better).", ""]
        if (model, task) in plots:
            lines += [f"![RD curve {model}/{task}]({plots[(model, task)]})", ""]
        side = any(p.side_bpfp for p in pts)  # the column only where some codec codes side information
        rows = [(p.codec, "" if p.rate_point is None else p.rate_point, _num(p.bpfp),
                 *((_num(p.side_bpfp),) if side else ()), _num(p.container_bpfp), _num(p.ebpfp),
                 _num(p.metric_value), _num(p.feature_mse), _num(p.enc_s, ".3g"), _num(p.dec_s, ".3g"))
                for ps in _codecs(pts).values() for p in ps]
        lines += _md_table(("codec", "rate point", "BPFP", *(("of which side BPFP",) if side else ()),
                            "container BPFP", "EBPFP", metric, "feature MSE", "enc s", "dec s"), rows)
        lines += _chain_table(pts)
        group_bd = [b for b in bd if (b.model, b.task) == (model, task)]
        if group_bd:
            lines += ["", f"BD-rate vs {group_bd[0].anchor} (PCHIP on log10 BPFP over the common {metric} range; "
                      f"negative = fewer bits). BD-{metric}: mean {metric} difference at equal BPFP.", ""]
            rows = [(b.codec, b.anchor, _num(b.bd_rate, ".2f") or "n/a", _num(b.bd_metric) or "n/a",
                     f"[{_num(b.overlap_low)}, {_num(b.overlap_high)}]" if b.bd_rate is not None else "none",
                     f"{b.n_anchor}/{b.n_test}", "; ".join(b.flags)) for b in group_bd]
            lines += _md_table(("codec", "anchor", "BD-rate %", f"BD-{metric}", f"{metric} overlap",
                                "points anchor/test", "flags"), rows)
        for n in notes:
            if n.startswith(f"{model}/{task}:"):
                lines += ["", f"> **Note:** {n}"]
        lines.append("")
    return "\n".join(lines)


def bd_csv_text(bd: Sequence[BDResult]) -> str:
    buf = io.StringIO()
    cols = ["model", "task", "codec", "anchor", "metric", "direction", "bd_rate", "bd_metric", "overlap_low",
            "overlap_high", "overlap_fraction", "n_anchor", "n_test", "flags"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for b in bd:
        row = b.as_dict()
        row["flags"] = "; ".join(b.flags)
        w.writerow({k: "" if row[k] is None else row[k] for k in cols})
    return buf.getvalue()


def plot_rd(model: str, task: str, pts: Sequence[RDPoint], path: PathLike) -> Path:
    """BPFP (log axis) vs the metric, one curve per codec, the uncompressed point starred."""
    # The object-oriented API with an Agg canvas: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    metric, direction = pts[0].metric, pts[0].direction
    for codec, ps in _codecs(pts).items():
        xs, ys = [p.bpfp for p in ps], [p.metric_value for p in ps]
        if codec == UNCOMPRESSED:
            ax.scatter(xs, ys, marker="*", s=160, color="black", zorder=5, label=UNCOMPRESSED)
            ax.axhline(ys[0], color="black", lw=0.8, ls=":")
        else:
            ax.plot(xs, ys, marker="o", label=codec)
    if all(p.bpfp > 0 for p in pts):
        ax.set_xscale("log")
    ax.set_xlabel("bits per feature point (BPFP)")
    ax.set_ylabel(f"{metric} ({direction} is better)")
    ax.set_title(f"{model} / {task}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes(path, buf.getvalue())
    return Path(path)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def build_report(points: Sequence[RDPoint], out_dir: PathLike, anchor: str = "vtm", title: Optional[str] = None,
                 fallback_anchor: Optional[str] = None) -> Report:
    """Write report.md, rd_points.csv, bdrate.csv and rd_<model>_<task>.png under out_dir."""
    if not points:
        raise ValueError("no RD points to report")
    points = dedupe(points)
    report_preset(points)  # one preset per report, before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bd, notes = compute_bd(points, anchor, fallback_anchor)
    plots: dict[tuple[str, str], str] = {}
    plot_paths: list[Path] = []
    for (model, task), pts in _group(points).items():
        name = f"rd_{_safe(model)}_{_safe(task)}.png"
        plot_paths.append(plot_rd(model, task, pts, out / name))
        plots[(model, task)] = name
    title = title or "fcbench RD report"
    text = render_markdown(points, bd, notes, title, plots)
    ordered = sorted(points, key=lambda p: (p.model, p.task, p.codec, p.bpfp))
    report = Report(out_dir=out, markdown=out / "report.md", points_csv=out / "rd_points.csv",
                    bdrate_csv=out / "bdrate.csv", bdrate_json=out / "bdrate.json", plots=plot_paths, bd=bd, flags=notes, text=text)
    write_bytes(report.points_csv, points_csv_text(ordered).encode())
    write_bytes(report.bdrate_csv, bd_csv_text(bd).encode())
    write_json(report.bdrate_json, {"anchor": anchor, "fallback_anchor": fallback_anchor, "preset": report_preset(points), "notes": notes,
                                     "results": [b.as_dict() for b in bd]})
    write_bytes(report.markdown, text.encode())  # last: its presence means the report is complete
    return report
