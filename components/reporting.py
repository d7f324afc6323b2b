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
from typing import Optional, Sequence, cast

from fcbench.codecs.common.atomic import write_bytes, write_json
from fcbench.codecs.common.types import PathLike
from fcbench.components.bdrate import BDResult, Direction, bd_compare, monotone_curve
from fcbench.components.comparisons import Comparison, beside, compare
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
from fcbench.components.report_doc import Block, Heading, Image, Note, Paragraph, table, to_html, to_markdown

log = logging.getLogger(__name__)

__all__ = ["UNCOMPRESSED", "RDPoint", "Report", "bd_csv_text", "build_report", "compute_bd", "compute_comparisons", "default_anchor",
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
    blocks: list = field(default_factory=list)  # the content report.md and report.html render (report_doc)

    @property
    def html(self) -> Path:
        return self.out_dir / "report.html"

    @property
    def files(self) -> list[Path]:
        return [self.markdown, self.html, self.points_csv, self.bdrate_csv, self.bdrate_json, *self.plots]


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
    for p in sorted(pts, key=lambda p: (p.label, p.bpfp)):
        by.setdefault(p.label, []).append(p)
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


def default_anchor(points: Sequence[RDPoint]) -> str:
    """The BD-rate anchor of the preset the points were made under (VTM for the shipped ones)."""
    from fcbench.codecs.presets import get_preset

    return get_preset(report_preset(points)).anchor


def compute_bd(points: Sequence[RDPoint], anchor: Optional[str] = None, fallback_anchor: Optional[str] = None
               ) -> tuple[list[BDResult], list[str]]:
    """BD-rate/BD-metric of every codec against the anchor (default: the points' preset's), per (model, task)."""
    pairs, notes = _pairs(points, anchor or default_anchor(points), fallback_anchor)
    results = []
    for model, task, chosen, codec, ref_pts, test_pts in pairs:
        direction = cast(Direction, test_pts[0].direction)  # RDPoint checks it is higher or lower
        ref = monotone_curve([p.bpfp for p in ref_pts], [p.metric_value for p in ref_pts], direction)
        test = monotone_curve([p.bpfp for p in test_pts], [p.metric_value for p in test_pts], direction)
        results.append(bd_compare(ref, test, direction, model=model, task=task, label=codec,
                                  anchor_name=chosen, metric=test_pts[0].metric))
    return results, notes


def compute_comparisons(points: Sequence[RDPoint], anchor: Optional[str] = None, fallback_anchor: Optional[str] = None
                        ) -> dict[tuple[str, str, str], Comparison]:
    """Per (model, task, codec): BD-rate on feature PSNR and speed-ups against the same anchor
    as compute_bd (fcbench.components.comparisons)."""
    pairs, _ = _pairs(points, anchor or default_anchor(points), fallback_anchor)
    return {(m, t, c): compare(a, p, m, t, c, chosen) for m, t, chosen, c, a, p in pairs}


def _num(x: Optional[float], fmt: str = ".4g") -> str:
    return "" if x is None else format(x, fmt)


def rate_label(point: "RDPoint") -> str:
    """The rate point as the report shows it, with its unit when known: 'qp 32', 'crf 33'."""
    if point.rate_point is None:
        return ""
    unit = point.params.get("rate_unit")
    return f"{unit} {point.rate_point}" if unit else str(point.rate_point)


def _chain_table(pts: Sequence[RDPoint]) -> list[Block]:
    """Which coding chain each codec label used (params chain.* of its points), when any
    point says (fcbench.codecs.chain.describe)."""
    chains: dict[str, dict] = {}
    for p in pts:
        if any(k.startswith("chain.") for k in p.params):
            chains.setdefault(p.label, {k[len("chain."):]: v for k, v in p.params.items() if k.startswith("chain.")})
    if not chains:
        return []

    def side(c: dict) -> str:
        on = str(c.get("outliers")).lower() in ("true", "1")
        return f"on: {c.get('outlier_bits')}-bit values, {c.get('outlier_fill')} fill" if on else "off"

    rows = [(codec, c.get("ranges", ""), side(c)) for codec, c in chains.items()]
    return [Paragraph("Coding chains (docs/codecs.md, 'Outliers and fitted ranges'):"),
            table(("codec", "truncation ranges", "outlier side channel"), rows)]


def _speed(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.3g}x"


def _bd_value(b: BDResult) -> str:
    """A BD-rate as the tables print it: '~' marks a figure that is not reliable."""
    if b.bd_rate is None:
        return "n/a"
    return ("~" if b.unreliable else "") + format(b.bd_rate, ".2f")


def _reliability(b: BDResult, fid: Optional[BDResult]) -> str:
    why = [*b.unreliable, *(f"feature PSNR: {w}" for w in (fid.unreliable if fid else ()))]
    return "yes" if not why else "no: " + "; ".join(why)


def _bd_rows(group_bd: Sequence[BDResult], extras: dict[tuple[str, str, str], Comparison]) -> list[tuple]:
    """One line per codec: BD on the task metric, BD-rate on feature PSNR, speed-ups, flags."""
    rows = []
    for b in group_bd:
        fid, enc, dec, why = beside(extras, b)
        flags = [*b.flags, *(f"feature PSNR: {f}" for f in (fid.flags if fid else ()))]
        if why:
            flags.append(f"speed-up: {why}")
        rows.append((b.label, b.anchor, _bd_value(b), _num(b.bd_metric) or "n/a",
                     f"[{_num(b.overlap_low)}, {_num(b.overlap_high)}]" if b.bd_rate is not None else "none",
                     f"{b.n_anchor}/{b.n_test}", _bd_value(fid) if fid else "n/a", _speed(enc), _speed(dec),
                     "; ".join(flags)))
    return rows


def winner_line(model: str, task: str, group_bd: Sequence[BDResult]) -> str:
    """Who needs the fewest bits at equal task metric in one (model, task), in one sentence."""
    computed = [(b.bd_rate, b) for b in group_bd if b.bd_rate is not None]
    if not computed:
        return f"{model} / {task}: no BD-rate could be computed (see the notes below)."
    trusted = [(rate, b) for rate, b in computed if not b.unreliable]  # a reliable figure wins over a better unreliable one
    rate, best = min(trusted or computed, key=lambda pair: pair[0])
    metric = best.metric
    if rate >= 0:
        text = (f"{model} / {task}: the anchor {best.anchor} wins: no codec needs fewer bits at equal {metric} "
                f"(closest: {best.label}, BD-rate {rate:+.2f} %)")
    else:
        text = (f"{model} / {task}: {best.label} wins: {-rate:.2f} % fewer bits than {best.anchor} "
                f"at equal {metric} (BD-rate {rate:+.2f} %)")
    return text + (f"; not reliable: {'; '.join(best.unreliable)}." if best.unreliable else ".")


def _summary(groups: dict[tuple[str, str], list[RDPoint]], bd: Sequence[BDResult],
             extras: dict[tuple[str, str, str], Comparison]) -> list[Block]:
    """Who wins, first: per (model, task) one sentence, then every codec against its anchor."""
    blocks: list[Block] = [Heading(2, "Summary")]
    rows = []
    for model, task in groups:
        group_bd = [b for b in bd if (b.model, b.task) == (model, task)]
        blocks.append(Paragraph(winner_line(model, task, group_bd), strong=True))
        for b in group_bd:
            fid, enc, dec, _ = beside(extras, b)
            rows.append((f"{model} / {task}", b.label, b.anchor, _bd_value(b), _bd_value(fid) if fid else "n/a",
                         _speed(enc), _speed(dec), _reliability(b, fid)))
    if rows:
        blocks += [Paragraph("BD-rate: the bits a codec needs against its anchor at equal quality (negative = fewer "
                             "bits), on the task metric and on the feature PSNR of the reconstruction; ~ marks a "
                             "figure that is not reliable. Speed-up: the anchor's CPU seconds per sample / the "
                             "codec's (> 1 = faster)."),
                   table(("model / task", "codec", "anchor", "BD-rate % (task metric)", "BD-rate % (feature PSNR)",
                          "enc speed-up", "dec speed-up", "reliable"), rows)]
    return blocks


def _used_line(points: Sequence[RDPoint], bd: Sequence[BDResult]) -> str:
    """What this report used, whatever its preset says: the anchor(s) and each codec's rate points."""
    anchors = sorted({b.anchor for b in bd})
    rates: dict[str, list[str]] = {}
    for p in sorted(points, key=lambda p: (p.label, p.bpfp)):
        label = rate_label(p)
        if p.label != UNCOMPRESSED and label and label not in rates.setdefault(p.label, []):
            rates[p.label].append(label)
    parts = [f"{codec}: {', '.join(labels)}" for codec, labels in sorted(rates.items())]
    anchor = f"anchor {', '.join(anchors)}" if anchors else "no BD-rate anchor present"
    return f"Used in this report: {anchor}; rate points: " + ("; ".join(parts) or "none recorded") + "."


def report_blocks(points: Sequence[RDPoint], bd: Sequence[BDResult], notes: Sequence[str], title: str,
                  plots: dict[tuple[str, str], str],
                  extras: Optional[dict[tuple[str, str, str], Comparison]] = None) -> list[Block]:
    """The report's content, once, for its Markdown and its HTML (fcbench.components.report_doc)."""
    extras = extras or {}
    groups = _group(points)
    blocks: list[Block] = [Heading(1, title), Paragraph(preset_line(report_preset(points))),
                           Paragraph(_used_line(points, bd)), *_summary(groups, bd, extras)]
    for (model, task), pts in groups.items():
        metric, direction = pts[0].metric, pts[0].direction
        blocks += [Heading(2, f"{model} / {task}"), Paragraph(f"Metric: {metric} ({direction} is better).")]
        if (model, task) in plots:
            blocks.append(Image(f"RD curve {model}/{task}", plots[(model, task)]))
        side = any(p.side_bpfp for p in pts)  # the column only where some codec codes side information
        rows = [(p.label, rate_label(p), _num(p.bpfp),
                 *((_num(p.side_bpfp),) if side else ()), _num(p.container_bpfp), _num(p.ebpfp),
                 _num(p.metric_value), _num(p.feature_mse), _num(p.feature_psnr, ".4g") or _lossless(p),
                 _num(p.enc_s, ".3g") or "n/a", _num(p.dec_s, ".3g") or "n/a")
                for ps in _codecs(pts).values() for p in ps]
        blocks.append(table(("codec", "rate point", "BPFP", *(("of which side BPFP",) if side else ()),
                             "container BPFP", "EBPFP", metric, "feature MSE", "feature PSNR dB",
                             "enc CPU s/sample", "dec CPU s/sample"), rows))
        blocks += _chain_table(pts)
        group_bd = [b for b in bd if (b.model, b.task) == (model, task)]
        if group_bd:
            blocks += [Paragraph(f"BD-rate vs {group_bd[0].anchor} (PCHIP on log10 BPFP over the common {metric} range; "
                                 f"negative = fewer bits; ~ = not reliable). BD-{metric}: mean {metric} difference at "
                                 "equal BPFP. BD-rate on feature PSNR: the same on the fidelity of the reconstructed "
                                 "features. Speed-up: the anchor's mean CPU seconds per sample / the codec's (> 1 = "
                                 "faster), on the same samples."),
                       table(("codec", "anchor", "BD-rate %", f"BD-{metric}", f"{metric} overlap",
                              "points anchor/test", "BD-rate % (feature PSNR)", "enc speed-up", "dec speed-up",
                              "flags"), _bd_rows(group_bd, extras))]
        blocks += [Note(n) for n in notes if n.startswith(f"{model}/{task}:")]
    return blocks


def render_markdown(points: Sequence[RDPoint], bd: Sequence[BDResult], notes: Sequence[str], title: str,
                    plots: dict[tuple[str, str], str],
                    extras: Optional[dict[tuple[str, str, str], Comparison]] = None) -> str:
    return to_markdown(report_blocks(points, bd, notes, title, plots, extras))


def _lossless(p: RDPoint) -> str:
    return "inf" if p.feature_mse == 0 else ""


def bd_csv_text(bd: Sequence[BDResult], extras: Optional[dict[tuple[str, str, str], Comparison]] = None) -> str:
    buf = io.StringIO()
    cols = ["model", "task", "label", "anchor", "metric", "direction", "bd_rate", "bd_metric", "overlap_low",
            "overlap_high", "overlap_fraction", "n_anchor", "n_test", "flags", "bd_rate_feature_psnr",
            "bd_feature_psnr", "enc_speedup", "dec_speedup", "speedup_note"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for b in bd:
        row = b.as_dict()
        row["flags"] = "; ".join(b.flags)
        extra = (extras or {}).get((b.model, b.task, b.label))
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
    """One panel: a curve per codec of `value` (points without one are left out, and so is a
    codec with none: the legend names only what is drawn; the uncompressed point starred, with
    a dotted line at its level). A codec has the same colour in every panel."""
    codecs = _codecs(pts)
    colours = {codec: f"C{i % 10}" for i, codec in enumerate(c for c in codecs if c != UNCOMPRESSED)}
    for codec, ps in codecs.items():
        shown = [p for p in ps if value(p) is not None]
        xs, ys = [p.bpfp for p in shown], [value(p) for p in shown]
        if not shown:
            continue
        if codec == UNCOMPRESSED:
            ax.scatter(xs, ys, marker="*", s=160, color="black", zorder=5, label=UNCOMPRESSED)
            ax.axhline(ys[0], color="black", lw=0.8, ls=":")
        else:
            ax.plot(xs, ys, marker="o", label=codec, color=colours[codec])
    if all(p.bpfp > 0 for p in pts):
        ax.set_xscale("log")
    ax.set_xlabel("bits per feature point (BPFP)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()


def _extra_dict(extras: dict[tuple[str, str, str], Comparison], b: BDResult) -> dict:
    extra = extras.get((b.model, b.task, b.label))
    return extra.as_dict() if extra else {}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def build_report(points: Sequence[RDPoint], out_dir: PathLike, anchor: Optional[str] = None, title: Optional[str] = None,
                 fallback_anchor: Optional[str] = None, pages: bool = True) -> Report:
    """Write report.md, report.html (the same content, plots embedded), rd_points.csv, bdrate.csv,
    bdrate.json and rd_<model>_<task>.png under out_dir; `anchor` None: the points' preset's.
    `pages=False` leaves report.md and report.html to the caller (the report stage writes them
    once, with its tracking note), so each is written exactly once."""
    if not points:
        raise ValueError("no RD points to report")
    points = dedupe(points)
    report_preset(points)  # one preset per report, before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    anchor = anchor or default_anchor(points)
    bd, notes = compute_bd(points, anchor, fallback_anchor)
    extras = compute_comparisons(points, anchor, fallback_anchor)
    plots: dict[tuple[str, str], str] = {}
    plot_paths: list[Path] = []
    for (model, task), pts in _group(points).items():
        name = f"rd_{_safe(model)}_{_safe(task)}.png"
        plot_paths.append(plot_rd(model, task, pts, out / name))
        plots[(model, task)] = name
    blocks = report_blocks(points, bd, notes, title or "fcbench RD report", plots, extras)
    text = to_markdown(blocks)
    ordered = sorted(points, key=lambda p: (p.model, p.task, p.label, p.bpfp))
    report = Report(out_dir=out, markdown=out / "report.md", points_csv=out / "rd_points.csv",
                    bdrate_csv=out / "bdrate.csv", bdrate_json=out / "bdrate.json", plots=plot_paths, bd=bd, flags=notes, text=text,
                    comparisons=extras, blocks=blocks)
    write_bytes(report.points_csv, points_csv_text(ordered).encode())
    write_bytes(report.bdrate_csv, bd_csv_text(bd, extras).encode())
    write_json(report.bdrate_json, {"anchor": anchor, "fallback_anchor": fallback_anchor, "preset": report_preset(points), "notes": notes,
                                     "results": [{**b.as_dict(), **_extra_dict(extras, b)} for b in bd]})
    if pages:
        write_bytes(report.html, to_html(blocks, out).encode())
        write_bytes(report.markdown, text.encode())  # last: its presence means the report is complete
    return report
