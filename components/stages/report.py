"""KFP component `report`: the RD points of the `evaluate` task -> RD table (Markdown/CSV), RD
plot, BD-rate against the anchor (fcbench.components.reporting), for the Kubeflow UI as an HTML
page (plots embedded), a Markdown table and a Metrics artifact of BD-rates; logged into the
pipeline's MLflow parent run (opened by `open_tracking`), which it closes. With MLflow
unreachable the report is still written, the tracking goes to the run's offline journal, and the
report says so.
"""
from typing import TYPE_CHECKING, Any, Callable

from kfp.dsl import HTML, Artifact, Input, Markdown, Metrics, Output

from fcbench.components.stages import container_images

if TYPE_CHECKING:
    from fcbench.components.reporting import Report


def log_to_tracking(points: list, report: "Report", uri: str, offline_dir: str, run_name: str,
                    parent_run_id: str, params: dict, write_pages: Callable[[str, str, bool], None]) -> dict:
    """Log the points (children), write the report's pages with what tracking says (note, run link,
    offline) by `write_pages(note, link, offline)`, log the report into the parent run, then close
    it. Returns {note, mlflow_link, offline, offline_dir, mlflow_run_id}."""
    from fcbench.components.tracking import experiment_name
    from fcbench.components.tracking.stage import run_link, stage_tracking

    tracking = stage_tracking(uri, offline_dir, run_name, parent_run_id)
    tracker, first = tracking.tracker, points[0]

    def pages(run_id: str) -> str:  # before the report is logged: MLflow gets the pages as written
        link = run_link(tracking, experiment_name(first.model, first.task), run_id)
        write_pages(tracking.note(), link, tracking.offline)
        return link

    if parent_run_id:
        run_id = parent_run_id
        for p in points:
            tracker.log_point(p, parent_run_id=run_id)
        link = pages(run_id)
        tracker.log_report(report, run_id)
        tracker.end_pipeline_run(run_id)
    else:  # no open_tracking step before (a pipeline built without it): open and close one here
        with tracker.start_pipeline_run(first.model, first.task, params=params, run_name=run_name or None) as run:
            for p in points:
                tracker.log_point(p)
            link = pages(run.run_id)
            tracker.log_report(report)
        run_id = run.run_id
    return {"note": tracking.note(), "mlflow_link": link, "offline": tracking.offline,
            "offline_dir": str(tracking.offline_dir) if tracking.offline else "", "mlflow_run_id": run_id}


def make_report(point_files: list, out_dir: str, anchor: str, title: str, tracking_uri: str,
                params: dict, storage_uri: str = "", run_name: str = "", preset: str = "", offline_dir: str = "",
                parent_run_id: str = "", kfp_run_id: str = "") -> dict:
    """Plain-function body: build the report from RD-point JSON files (a point, a list of points
    or {"points": [...]} each), every point labelled with the run's `preset` ('' = the default)
    and the anchor '' meaning the preset's; log it (MLflow or the offline journal); write
    report.html beside report.md; publish the folder to reports/<run_name>/ of `storage_uri`.
    Returns what the component's outputs need."""
    import shutil
    from pathlib import Path

    from fcbench.codecs.common.atomic import write_bytes
    from fcbench.codecs.presets import get_preset
    from fcbench.components.report_html import bd_metric_names, render_html
    from fcbench.components.reporting import build_report, load_points, with_preset
    from fcbench.components.stages.context import stage_context
    from fcbench.components.storage.keys import artifact_key
    from fcbench.components.storage.publish import publish, run_segment
    from fcbench.components.tracking.server import stage_tracking_uri
    from fcbench.components.tracking.stage import kfp_run_link

    with stage_context("report", files=len(point_files)):
        chosen = get_preset(preset or None)
        points = with_preset(load_points(*point_files), chosen.name)
        if not points:
            raise ValueError("no RD points to report")
        out = Path(out_dir)
        report = build_report(points, out, anchor=anchor or chosen.anchor, title=title or None, pages=False)
        params = {**params, "preset": chosen.name, "points": len(points)}
        written: dict[str, Any] = {}

        def write_pages(note: str, link: str, offline: bool) -> None:
            """report.html, then report.md (last: its presence means the report is complete)."""
            written.update(note=note, markdown=f"{report.text}\n{note}\n",
                           html=render_html(report, note, link, kfp_run_link(kfp_run_id), offline))
            write_bytes(report.html, written["html"].encode())
            write_bytes(report.markdown, written["markdown"].encode())

        uri = stage_tracking_uri(tracking_uri)
        if uri:
            tracked = log_to_tracking(points, report, uri, offline_dir, run_name, parent_run_id, params, write_pages)
        else:
            tracked = {"note": "Tracking is off for this run.", "mlflow_link": "", "offline": False, "offline_dir": ""}
            write_pages(tracked["note"], "", False)
        if tracked["note"] != written["note"]:  # tracking went offline while logging the report: say so
            write_pages(tracked["note"], tracked["mlflow_link"], tracked["offline"])
        if tracked["offline"]:  # the journal travels with the report (pipeline root, storage_uri)
            shutil.copytree(tracked["offline_dir"], out / "offline-tracking", dirs_exist_ok=True)
        result = {"report_dir": str(out), "points": len(points), "markdown": written["markdown"], "html": written["html"],
                  "bd_rates": bd_metric_names(report), **tracked}
        if storage_uri:
            if not run_name:
                raise ValueError(f"publishing the report to {storage_uri} needs a run name (reports/<run>/)")
            result["storage_uri"] = publish(storage_uri, out, artifact_key("", "", "reports", run=run_segment(run_name)))
        return result


@container_images.component("codec")
def report(points: Input[Artifact], anchor: str, title: str, tracking_uri: str, report_dir: Output[Artifact],
           table: Output[Markdown], html: Output[HTML], bd_rates: Output[Metrics], storage_uri: str = "",
           run_name: str = "", preset: str = "", offline_dir: str = "", parent_run_id: str = "", kfp_run_id: str = ""):
    """RD table + plot + BD-rate of every point the `evaluate` task wrote."""
    from fcbench.codecs.common import atomic
    from fcbench.components.stages.report import make_report

    out = make_report([points.path], report_dir.path, anchor, title, tracking_uri, {}, storage_uri, run_name, preset,
                      offline_dir, parent_run_id, kfp_run_id)
    atomic.write_bytes(table.path, out["markdown"].encode())
    atomic.write_bytes(html.path, out["html"].encode())
    for name, value in out["bd_rates"].items():
        bd_rates.log_metric(name, value)
    report_dir.metadata.update({k: out[k] for k in ("mlflow_link", "offline_dir", "mlflow_run_id") if out.get(k)})
