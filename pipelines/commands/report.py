"""`fcbench report` (RD tables, plots, BD-rate) and `fcbench upload-tracking` (offline journal -> MLflow)."""
from __future__ import annotations

import argparse
from pathlib import Path

from fcbench.codecs.presets import preset_names
from fcbench.pipelines.commands.options import output_folder


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="RD table, RD plots and BD-rate vs the anchor, from results files and/or MLflow",
                       description="Build report.md, report.html, rd_points.csv, bdrate.csv/json and rd_<model>_<task>.png from "
                                   "local results (JSON/CSV files or folders) and/or the point runs of an MLflow "
                                   "pipeline run, and print the Markdown. Local results are RD points, or the "
                                   "outputs of `fcbench encode` (results.json) and `fcbench evaluate --out` joined "
                                   "by sample, codec and rate point, as the pipeline joins them.")
    p.add_argument("--results", type=Path, nargs="+", default=[], metavar="PATH",
                   help="RD point .json/.csv files, sweep results.json, evaluation .json, or folders searched for them")
    p.add_argument("--mlflow", metavar="URI", help="tracking URI to read point runs from (needs --experiment)")
    p.add_argument("--experiment", metavar="E", help="MLflow experiment, e.g. fcbench/dinov2/cls")
    p.add_argument("--run", metavar="RUN_ID", help="parent (pipeline) run to read; default: the latest with points")
    p.add_argument("--no-log", action="store_true", help="do not log the report to the MLflow parent run")
    p.add_argument("--offline-dir", type=Path, metavar="DIR",
                   help="MLflow unreachable: still write the report (from --results) and journal its logging in DIR, "
                        "to upload later with `fcbench upload-tracking DIR --mlflow URI`")
    p.add_argument("--out", type=output_folder, required=True, metavar="DIR")
    p.add_argument("--anchor", default=None, help="codec every other codec is compared with (default: the preset's, vtm; an error when "
                        "the results have none)")
    p.add_argument("--preset", default=None, choices=preset_names(),
                   help="label points that record no preset with this one (a point of another preset is an error); "
                        "docs/test-conditions.md §7")
    p.add_argument("--fallback-anchor", metavar="CODEC", help="anchor to use where --anchor has no points")
    p.add_argument("--title")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("upload-tracking", help="upload an offline tracking journal to an MLflow server (resumable)")
    p.add_argument("offline_dir", type=Path)
    p.add_argument("--mlflow", required=True, metavar="URI")
    p.set_defaults(func=cmd_upload)


def cmd_report(args: argparse.Namespace) -> int:
    from fcbench.components.reporting import dedupe, default_anchor, with_preset
    from fcbench.components.tracking import report_to_run

    if not args.results and not args.mlflow:
        raise ValueError("give --results PATH... and/or --mlflow URI --experiment E")
    if bool(args.mlflow) != bool(args.experiment):
        raise ValueError("--mlflow and --experiment go together")
    from fcbench.components.rd_join import load_report_inputs

    points = load_report_inputs(*args.results) if args.results else []
    tracker, run_id, offline_note = None, None, ""
    if args.mlflow:
        tracker, run_id, from_runs, offline_note = _mlflow_points(args)
        points = dedupe([*points, *from_runs])
    points = with_preset(points, args.preset)
    anchor = args.anchor or default_anchor(points)
    codecs = sorted({p.label for p in points})
    if not args.anchor and anchor not in codecs and args.fallback_anchor not in codecs:
        raise ValueError(f"the results have no {anchor} points, the preset's BD-rate anchor: pass --anchor CODEC "
                         f"(the results' codecs: {', '.join(codecs)})")
    report = report_to_run(points, args.out, None if args.no_log else tracker, run_id, anchor=anchor,
                           fallback_anchor=args.fallback_anchor, title=args.title)
    if offline_note and tracker is not None and not args.run and not args.no_log:  # the journalled parent run holds the points too
        for p in points:
            tracker.log_point(p, parent_run_id=run_id)
        tracker.end_pipeline_run(run_id)
    print(report.text)
    print(f"wrote {', '.join(str(p) for p in report.files)}")
    if tracker is not None and not args.no_log:
        print(offline_note or f"logged to MLflow run {run_id} at {args.mlflow}")
    return 0


def _mlflow_points(args: argparse.Namespace) -> tuple:
    """(tracker, parent run id, points read from MLflow, note): MLflow when it answers; else, with
    --offline-dir, the journal (the report is then built from --results alone)."""
    from fcbench.components.tracking import Tracker, TrackingUnavailableError, pipeline_points

    try:
        tracker = Tracker(args.mlflow)  # fails fast, naming the URI, if the server is down
    except TrackingUnavailableError:
        if not args.offline_dir:
            raise
        if not args.results:
            raise ValueError(f"MLflow at {args.mlflow} is unreachable and the points would come from it: "
                             f"give --results to report from files") from None
        journal = Tracker(offline_dir=args.offline_dir)
        run_id = args.run or journal.open_pipeline_run(*_model_task(args), params={"source": "fcbench report"}).run_id
        note = (f"MLflow at {args.mlflow} is unreachable: the report's logging is journalled in {args.offline_dir}; "
                f"upload it with `fcbench upload-tracking {args.offline_dir} --mlflow {args.mlflow}`")
        return journal, run_id, [], note
    run_id, from_runs = pipeline_points(tracker.sink, args.experiment, args.run)  # type: ignore[arg-type]
    return tracker, run_id, from_runs, ""


def _model_task(args: argparse.Namespace) -> tuple[str, str]:
    """(model, task) of an experiment named fcbench/<model>/<task>."""
    parts = args.experiment.split("/")
    if len(parts) != 3 or parts[0] != "fcbench":
        raise ValueError(f"--experiment {args.experiment!r}: expected fcbench/<model>/<task>")
    return parts[1], parts[2]


def cmd_upload(args: argparse.Namespace) -> int:
    from fcbench.components.tracking import upload_offline

    ids = upload_offline(args.offline_dir, args.mlflow)
    print(f"uploaded {len(ids)} run(s) from {args.offline_dir} to {args.mlflow}")
    return 0
