"""RD tables, RD plots and BD-rate reports of RD points (rd_points.py), from local results or
MLflow runs.

Pure: no MLflow here (tracking logs a Report), so a report can be rebuilt from results JSON files
alone. The RD point names are re-exported here for the callers that build reports from points.
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

from fcbench.codecs.atomic import write_bytes, write_json
from fcbench.codecs.types import PathLike
from fcbench.components.bdrate import BDResult, bd_compare, monotone_curve
from fcbench.components.comparisons import Comparison, compare
from fcbench.components.rd_points import (
    UNCOMPRESSED,
    RDPoint,
    dedupe,
    load_points,
    load_points_csv,
    points_csv_text,
    preset_line,
    report_preset,
    save_points_csv,
    save_points_json,
    with_preset,
)

log = logging.getLogger(__name__)

__all__ = ["UNCOMPRESSED", "RDPoint", "Report", "bd_csv_text", "build_report", "compute_bd", "compute_comparisons",
           "dedupe", "load_points",
           "load_points_csv", "plot_rd", "points_csv_text", "preset_line", "render_markdown", "report_preset",
           "save_points_csv", "save_points_json", "with_preset"]


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
    # per (model, task, codec): BD-rate on feature PSNR and speed-ups against the same anchor
    comparisons: dict = field(default_factory=dict)

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


def _pairs(points: Sequence[RDPoint], anchor: str, fallback_anchor: Optional[str]
           ) -> tuple[list[tuple[str, str, str, str, list[RDPoint], list[RDPoint]]], list[str]]:
    """([(model, task, anchor used, codec, anchor's points, codec's points)], notes): every codec
    curve of every (model, task) paired with its anchor's."""
    pairs, notes = [], []
    for (model, task), pts in _group(points).items():
        curves = {c: ps for c, ps in _codecs(pts).items() if c != UNCOMPRESSED}
        chosen, msgs = _choose_anchor(model, task, sorted(curves), anchor, fallback_anchor)
        notes += msgs
        if chosen is not None:
            pairs += [(model, task, chosen, codec, curves[chosen], ps) for codec, ps in curves.items() if codec != chosen]
    return pairs, notes


def compute_bd(points: Sequence[RDPoint], anchor: str = "vtm", fallback_anchor: Optional[str] = None) -> tuple[list[BDResult], list[str]]:
    """BD-rate/BD-metric of every codec against the anchor, per (model, task)."""
    pairs, notes = _pairs(points, anchor, fallback_anchor)
    results = []
    for model, task, chosen, codec, ref_pts, test_pts in pairs:
        direction = test_pts[0].direction
        ref = monotone_curve([p.bpfp for p in ref_pts], [p.metric_value for p in ref_pts], direction)
        test = monotone_curve([p.bpfp for p in test_pts], [p.metric_value for p in test_pts], direction)
        results.append(bd_compare(ref, test, direction, model=model, task=task, codec=codec,
                                  anchor_name=chosen, metric=test_pts[0].metric))
    return results, notes


def compute_comparisons(points: Sequence[RDPoint], anchor: str = "vtm", fallback_anchor: Optional[str] = None
                        ) -> dict[tuple[str, str, str], Comparison]:
    """Per (model, task, codec): BD-rate on feature PSNR and speed-ups against the same anchor
    as compute_bd (fcbench.components.comparisons)."""
    pairs, _ = _pairs(points, anchor, fallback_anchor)
    return {(m, t, c): compare(a, p, m, t, c, chosen) for m, t, chosen, c, a, p in pairs}


def _num(x: Optional[float], fmt: str = ".4g") -> str:
    return "" if x is None else format(x, fmt)


def rate_label(point: "RDPoint") -> str:
    """The rate point as the report shows it, with its unit when known: 'qp 32', 'crf 33'."""
    if point.rate_point is None:
        return ""
    unit = point.params.get("rate_unit")
    return f"{unit} {point.rate_point}" if unit else str(point.rate_point)


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


def _speed(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.3g}x"


def _bd_rows(group_bd: Sequence[BDResult], extras: dict[tuple[str, str, str], Comparison]) -> list[tuple]:
    """One line per codec: BD on the task metric, BD-rate on feature PSNR, speed-ups, flags."""
    rows = []
    for b in group_bd:
        extra = extras.get((b.model, b.task, b.codec))
        fid = extra.fidelity if extra else None
        flags = [*b.flags, *(f"feature PSNR: {f}" for f in (fid.flags if fid else ()))]
        if extra and extra.speed.why:
            flags.append(f"speed-up: {extra.speed.why}")
        rows.append((b.codec, b.anchor, _num(b.bd_rate, ".2f") or "n/a", _num(b.bd_metric) or "n/a",
                     f"[{_num(b.overlap_low)}, {_num(b.overlap_high)}]" if b.bd_rate is not None else "none",
                     f"{b.n_anchor}/{b.n_test}", (_num(fid.bd_rate, ".2f") if fid else "") or "n/a",
                     _speed(extra.speed.enc if extra else None), _speed(extra.speed.dec if extra else None),
                     "; ".join(flags)))
    return rows


def render_markdown(points: Sequence[RDPoint], bd: Sequence[BDResult], notes: Sequence[str], title: str,
                    plots: dict[tuple[str, str], str],
                    extras: Optional[dict[tuple[str, str, str], Comparison]] = None) -> str:
    extras = extras or {}
    lines = [f"# {title}", "", preset_line(report_preset(points)), ""]
    for (model, task), pts in _group(points).items():
        metric, direction = pts[0].metric, pts[0].direction
        lines += [f"## {model} / {task}", "", f"Metric: {metric} ({direction} is better).", ""]
        if (model, task) in plots:
            lines += [f"![RD curve {model}/{task}]({plots[(model, task)]})", ""]
        side = any(p.side_bpfp for p in pts)  # the column only where some codec codes side information
        rows = [(p.codec, rate_label(p), _num(p.bpfp),
                 *((_num(p.side_bpfp),) if side else ()), _num(p.container_bpfp), _num(p.ebpfp),
                 _num(p.metric_value), _num(p.feature_mse), _num(p.feature_psnr, ".4g") or _lossless(p),
                 _num(p.enc_s, ".3g") or "n/a", _num(p.dec_s, ".3g") or "n/a")
                for ps in _codecs(pts).values() for p in ps]
        lines += _md_table(("codec", "rate point", "BPFP", *(("of which side BPFP",) if side else ()),
                            "container BPFP", "EBPFP", metric, "feature MSE", "feature PSNR dB",
                            "enc CPU s/sample", "dec CPU s/sample"), rows)
        lines += _chain_table(pts)
        group_bd = [b for b in bd if (b.model, b.task) == (model, task)]
        if group_bd:
            lines += ["", f"BD-rate vs {group_bd[0].anchor} (PCHIP on log10 BPFP over the common {metric} range; "
                      f"negative = fewer bits). BD-{metric}: mean {metric} difference at equal BPFP. BD-rate on "
                      "feature PSNR: the same on the fidelity of the reconstructed features. Speed-up: the "
                      "anchor's mean CPU seconds per sample / the codec's (> 1 = faster), on the same samples.", ""]
            lines += _md_table(("codec", "anchor", "BD-rate %", f"BD-{metric}", f"{metric} overlap",
                                "points anchor/test", "BD-rate % (feature PSNR)", "enc speed-up", "dec speed-up",
                                "flags"), _bd_rows(group_bd, extras))
        for n in notes:
            if n.startswith(f"{model}/{task}:"):
                lines += ["", f"> **Note:** {n}"]
        lines.append("")
    return "\n".join(lines)


def _lossless(p: RDPoint) -> str:
    return "inf" if p.feature_mse == 0 else ""


def bd_csv_text(bd: Sequence[BDResult], extras: Optional[dict[tuple[str, str, str], Comparison]] = None) -> str:
    buf = io.StringIO()
    cols = ["model", "task", "codec", "anchor", "metric", "direction", "bd_rate", "bd_metric", "overlap_low",
            "overlap_high", "overlap_fraction", "n_anchor", "n_test", "flags", "bd_rate_feature_psnr",
            "bd_feature_psnr", "enc_speedup", "dec_speedup", "speedup_note"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for b in bd:
        row = b.as_dict()
        row["flags"] = "; ".join(b.flags)
        extra = (extras or {}).get((b.model, b.task, b.codec))
        if extra:
            fid = extra.fidelity
            row.update(bd_rate_feature_psnr=fid.bd_rate if fid else None, bd_feature_psnr=fid.bd_metric if fid else None,
                       enc_speedup=extra.speed.enc, dec_speedup=extra.speed.dec, speedup_note=extra.speed.why)
        w.writerow({k: "" if row.get(k) is None else row[k] for k in cols})
    return buf.getvalue()


def plot_rd(model: str, task: str, pts: Sequence[RDPoint], path: PathLike) -> Path:
    """BPFP (log axis) vs the task metric, one curve per codec, the uncompressed point starred;
    beside it, where the points carry it, BPFP vs the feature PSNR (the same codec colours)."""
    # The object-oriented API with an Agg canvas: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fidelity = any(p.feature_psnr is not None for p in pts)
    fig = Figure(figsize=(12 if fidelity else 7, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2 if fidelity else 1, 1)
    metric, direction = pts[0].metric, pts[0].direction
    _curves(ax, pts, lambda p: p.metric_value, f"{metric} ({direction} is better)", f"{model} / {task}: {metric}")
    if fidelity:
        _curves(fig.add_subplot(1, 2, 2), pts, lambda p: p.feature_psnr, "feature PSNR dB (higher is better)",
                f"{model} / {task}: feature fidelity")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes(path, buf.getvalue())
    return Path(path)


def _curves(ax, pts: Sequence[RDPoint], value, ylabel: str, title: str) -> None:
    """One panel: a curve per codec of `value` (points without one are left out; the
    uncompressed point starred, with a dotted line at its level)."""
    for codec, ps in _codecs(pts).items():
        shown = [p for p in ps if value(p) is not None]
        xs, ys = [p.bpfp for p in shown], [value(p) for p in shown]
        if not shown:
            ax.plot([], [], label=codec)  # keeps the codec colours of both panels alike
        elif codec == UNCOMPRESSED:
            ax.scatter(xs, ys, marker="*", s=160, color="black", zorder=5, label=UNCOMPRESSED)
            ax.axhline(ys[0], color="black", lw=0.8, ls=":")
        else:
            ax.plot(xs, ys, marker="o", label=codec)
    if all(p.bpfp > 0 for p in pts):
        ax.set_xscale("log")
    ax.set_xlabel("bits per feature point (BPFP)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()


def _extra_dict(extras: dict[tuple[str, str, str], Comparison], b: BDResult) -> dict:
    extra = extras.get((b.model, b.task, b.codec))
    return extra.as_dict() if extra else {}


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
    extras = compute_comparisons(points, anchor, fallback_anchor)
    plots: dict[tuple[str, str], str] = {}
    plot_paths: list[Path] = []
    for (model, task), pts in _group(points).items():
        name = f"rd_{_safe(model)}_{_safe(task)}.png"
        plot_paths.append(plot_rd(model, task, pts, out / name))
        plots[(model, task)] = name
    title = title or "fcbench RD report"
    text = render_markdown(points, bd, notes, title, plots, extras)
    ordered = sorted(points, key=lambda p: (p.model, p.task, p.codec, p.bpfp))
    report = Report(out_dir=out, markdown=out / "report.md", points_csv=out / "rd_points.csv",
                    bdrate_csv=out / "bdrate.csv", bdrate_json=out / "bdrate.json", plots=plot_paths, bd=bd, flags=notes, text=text,
                    comparisons=extras)
    write_bytes(report.points_csv, points_csv_text(ordered).encode())
    write_bytes(report.bdrate_csv, bd_csv_text(bd, extras).encode())
    write_json(report.bdrate_json, {"anchor": anchor, "fallback_anchor": fallback_anchor, "preset": report_preset(points), "notes": notes,
                                     "results": [{**b.as_dict(), **_extra_dict(extras, b)} for b in bd]})
    write_bytes(report.markdown, text.encode())  # last: its presence means the report is complete
    return report
