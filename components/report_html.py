"""The report page the Kubeflow UI shows (report.html with the run's links and tracking state),
and the KFP metric names of BD-rates and RD points.
"""
from __future__ import annotations

import re
from typing import Optional

from fcbench.codecs.common.types import RatePoint
from fcbench.components.report_doc import to_html
from fcbench.components.reporting import Report


def _metric_key(text: str) -> str:
    """A metric name segment: letters, digits, '.', '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9.\-]+", "_", str(text)).strip("_")


def point_metric_names(label: str, rate_point: RatePoint, unit: Optional[str], values: dict) -> dict:
    """{<point name>:<metric>: value}: per-point KFP metrics named by fcbench.codecs.common.types.point_name,
    the same names in the coding tasks and the evaluate task (x265@qp32:bpfp, av1@crf33:bpfp,
    hyperprior@lambda0.01:top1)."""
    from fcbench.codecs.common.types import point_name

    point = point_name(label, rate_point, unit)
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
        out[f"{prefix}bd_rate_{_metric_key(b.label)}_vs_{_metric_key(b.anchor)}"] = float(b.bd_rate)
    return out


def render_html(report: Report, tracking_note: str = "", mlflow_link: str = "", kfp_link: str = "",
                offline: bool = False) -> str:
    """report.html with, under its title, the links to the MLflow and Kubeflow runs and the
    tracking state (`offline`: highlighted): the same blocks as report.md (report_doc)."""
    return to_html(report.blocks, report.out_dir, (("MLflow run", mlflow_link), ("Kubeflow run", kfp_link)),
                   tracking_note, offline)
