"""KFP component `report`: the RD points of the `evaluate` task -> RD table (Markdown/CSV), RD
plot, BD-rate against the anchor (fcbench.components.reporting), optionally logged to MLflow."""
from kfp.dsl import Artifact, Input, Markdown, Output

from fcbench.components.stages import container_images


def make_report(point_files: list, out_dir: str, anchor: str, title: str, tracking_uri: str,
                params: dict, storage_uri: str = "", run_name: str = "", preset: str = "") -> dict:
    """Plain-function body: build the report from RD-point JSON files (a point, a list of points
    or {"points": [...]} each), every point labelled with the run's `preset` ('' = the default)
    and the anchor '' meaning the preset's; log it when a tracking URI is given (one MLflow
    parent run with a child run per point); with a `storage_uri` publish the report folder to
    reports/<run_name>/ there."""
    from pathlib import Path

    from fcbench.codecs.presets import get_preset
    from fcbench.components.reporting import build_report, load_points, with_preset
    from fcbench.components.storage.keys import artifact_key
    from fcbench.components.storage.publish import publish, run_segment
    from fcbench.components.stages.context import stage_context
    from fcbench.components.tracking.server import stage_tracking_uri

    with stage_context("report", files=len(point_files)):
        chosen = get_preset(preset or None)
        points = with_preset(load_points(*point_files), chosen.name)
        if not points:
            raise ValueError("no RD points to report")
        report = build_report(points, Path(out_dir), anchor=anchor or chosen.anchor, title=title or None)
        params = {**params, "preset": chosen.name, "points": len(points)}
        uri = stage_tracking_uri(tracking_uri)
        if uri:
            from fcbench.components.tracking import Tracker

            first = points[0]
            tracker = Tracker(tracking_uri=uri)
            with tracker.start_pipeline_run(first.model, first.task, params=params, tags={}):
                for p in points:
                    tracker.log_point(p, params={}, tags={})
                tracker.log_report(report)
        out = {"report_dir": str(out_dir), "points": len(points)}
        if storage_uri:
            if not run_name:
                raise ValueError(f"publishing the report to {storage_uri} needs a run name (reports/<run>/)")
            out["storage_uri"] = publish(storage_uri, out_dir, artifact_key("", "", "reports", run=run_segment(run_name)))
        return out


@container_images.component("codec")
def report(points: Input[Artifact], anchor: str, title: str, tracking_uri: str, report_dir: Output[Artifact],
           table: Output[Markdown], storage_uri: str = "", run_name: str = "", preset: str = ""):
    """RD table + plot + BD-rate of every point the `evaluate` task wrote."""
    from pathlib import Path

    from fcbench.codecs import atomic
    from fcbench.components.stages.report import make_report

    make_report([points.path], report_dir.path, anchor, title, tracking_uri, {}, storage_uri, run_name, preset)
    atomic.write_bytes(table.path, (Path(report_dir.path) / "report.md").read_bytes())
