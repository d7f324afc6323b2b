"""The report as one self-contained HTML page (RD plots embedded as data URIs), for the Kubeflow
UI's HTML artifact viewer and for a browser; and the KFP metric names of BD-rates and RD points.
"""
from __future__ import annotations

import base64
import html
import re
from typing import Optional, Sequence

from fcbench.components.reporting import RDPoint, Report, _safe

_STYLE = ("body{font-family:sans-serif;margin:1.5em;max-width:70em}table{border-collapse:collapse;margin:.6em 0}"
          "td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}th{background:#eee}"
          "td:first-child,th:first-child{text-align:left}.flag{color:#a40}.warn{background:#fff3cd;padding:.5em}"
          "img{max-width:100%}")


def _metric_key(text: str) -> str:
    """A metric name segment: letters, digits, '.', '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9.\-]+", "_", str(text)).strip("_")


def point_metric_names(label: str, rate_point: object, unit: Optional[str], values: dict) -> dict:
    """{<point name>:<metric>: value}: per-point KFP metrics named by fcbench.codecs.types.point_name,
    the same names in the coding tasks and the evaluate task (x265@qp32:bpfp, av1@crf33:bpfp,
    hyperprior@lambda0.01:top1)."""
    from fcbench.codecs.types import point_name

    point = point_name(label, rate_point, unit)  # type: ignore[arg-type]
    return {f"{point}:{k}": v for k, v in values.items()}


def bd_metric_names(report: Report) -> dict[str, float]:
    """{bd_rate_<codec>_vs_<anchor>: percent} (prefixed by <model>_<task>_ when the report holds
    several): what "Compare runs" lines up across runs."""
    groups = {(b.model, b.task) for b in report.bd}
    out = {}
    for b in report.bd:
        if b.bd_rate is None:
            continue
        prefix = f"{_metric_key(b.model)}_{_metric_key(b.task)}_" if len(groups) > 1 else ""
        out[f"{prefix}bd_rate_{_metric_key(b.codec)}_vs_{_metric_key(b.anchor)}"] = float(b.bd_rate)
    return out


def _num(x: Optional[float], fmt: str = ".4g") -> str:
    return "" if x is None else format(x, fmt)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: Report, points: Sequence[RDPoint], title: str, tracking_note: str = "",
                mlflow_link: str = "", kfp_link: str = "", offline: bool = False) -> str:
    """One HTML page: links, tracking state, per (model, task) the RD plot, BD-rate table, RD
    points and flags."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    links = [f"<a href='{html.escape(u)}'>{t}</a>" for t, u in (("MLflow run", mlflow_link),
                                                                ("Kubeflow run", kfp_link)) if u]
    if links:
        parts.append("<p>" + " · ".join(links) + "</p>")
    if tracking_note:
        parts.append(f"<p class='{'warn' if offline else ''}'>{html.escape(tracking_note)}</p>")
    plots = {p.name: p for p in report.plots}
    groups: dict[tuple[str, str], list[RDPoint]] = {}
    for p in points:
        groups.setdefault((p.model, p.task), []).append(p)
    for (model, task), pts in groups.items():
        metric = pts[0].metric
        parts.append(f"<h2>{html.escape(model)} / {html.escape(task)}</h2>"
                     f"<p>Metric: {html.escape(metric)} ({html.escape(pts[0].direction)} is better).</p>")
        plot = plots.get(f"rd_{_safe(model)}_{_safe(task)}.png")  # build_report's plot name
        if plot is not None and plot.is_file():
            data = base64.b64encode(plot.read_bytes()).decode()
            parts.append(f"<img alt='RD curve {html.escape(model)}/{html.escape(task)}' src='data:image/png;base64,{data}'>")
        bd = [b for b in report.bd if (b.model, b.task) == (model, task)]
        if bd:
            parts.append(f"<h3>BD-rate vs {html.escape(bd[0].anchor)}</h3>")
            parts.append(_table(("codec", "anchor", "BD-rate %", f"BD-{metric}", f"{metric} overlap", "points anchor/test", "flags"),
                                [(b.codec, b.anchor, _num(b.bd_rate, ".2f") or "n/a", _num(b.bd_metric) or "n/a",
                                  f"[{_num(b.overlap_low)}, {_num(b.overlap_high)}]" if b.bd_rate is not None else "none",
                                  f"{b.n_anchor}/{b.n_test}", "; ".join(b.flags)) for b in bd]))
        ordered = sorted(pts, key=lambda p: (p.codec, p.bpfp))
        parts.append("<h3>RD points</h3>")
        parts.append(_table(("codec", "rate point", "BPFP", "container BPFP", "EBPFP", metric, "feature MSE"),
                            [(p.codec, p.rate_point, _num(p.bpfp), _num(p.container_bpfp), _num(p.ebpfp),
                              _num(p.metric_value), _num(p.feature_mse)) for p in ordered]))
    if report.flags:
        parts.append("<h3>Flags</h3><ul>" + "".join(f"<li class='flag'>{html.escape(f)}</li>" for f in report.flags) + "</ul>")
    parts.append("</body></html>")
    return "".join(parts)
