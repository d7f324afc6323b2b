"""`fcbench report` and `fcbench upload-tracking` through the CLI's main(argv)."""
from __future__ import annotations

import csv
import socket
import time

import numpy as np
import pytest
from mlflow import MlflowClient

from fcbench.components.reporting import save_points_json
from fcbench.components.tracking import Tracker, experiment_name
from fcbench.pipelines.cli import main

RATES = np.array([0.05, 0.1, 0.2, 0.4])
Q = 70 + 4 * np.log2(RATES / 0.05)


def test_report_from_results_files(tmp_path, curve, capsys):
    save_points_json(curve("vtm", RATES, Q), tmp_path / "res" / "vtm.json")
    save_points_json(curve("x265", RATES * 1.1, Q), tmp_path / "res" / "x265.json")
    save_points_json(curve("uncompressed", [32.0], [90.0]), tmp_path / "ref.json")
    assert main(["report", "--results", str(tmp_path / "res"), str(tmp_path / "ref.json"),
                 "--out", str(tmp_path / "out"), "--title", "cli demo"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# cli demo") and "| x265 | vtm | 10.00 |" in out
    rows = list(csv.DictReader((tmp_path / "out" / "bdrate.csv").open()))
    assert float(rows[0]["bd_rate"]) == pytest.approx(10.0)
    assert (tmp_path / "out" / "rd_m_t.png").is_file()


def test_report_missing_anchor_and_fallback(tmp_path, curve, capsys):
    save_points_json(curve("x265", RATES, Q) + curve("hyperprior", RATES * 0.5, Q), tmp_path / "r.json")
    # #22 item 3: no VTM in the results and no --anchor used to exit 0 with no BD table
    assert main(["report", "--results", str(tmp_path / "r.json"), "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "the results have no vtm points" in err and "--anchor" in err and "hyperprior, x265" in err
    assert not (tmp_path / "a" / "report.md").exists()
    assert main(["report", "--results", str(tmp_path / "r.json"), "--out", str(tmp_path / "b"),
                 "--fallback-anchor", "x265"]) == 0
    out = capsys.readouterr().out
    assert "| hyperprior | x265 | -50.00 |" in out and "hyperprior wins: 50.00 % fewer bits than x265" in out
    assert (tmp_path / "b" / "report.html").is_file()  # the command writes the HTML page too


def test_report_errors_are_clear(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", "--out", str(tmp_path / "o")]) == 1
    assert "--results" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    assert main(["report", "--mlflow", dead, "--experiment", "fcbench/m/t", "--out", str(tmp_path / "o")]) == 1
    assert f"{dead} is unreachable" in capsys.readouterr().err


def test_report_from_mlflow_logs_to_parent(mlflow_server, tmp_path, curve, capsys):
    model = f"m{time.time_ns()}"
    tr = Tracker(mlflow_server)
    with tr.start_pipeline_run(model, "t") as run:
        for p in curve("vtm", RATES, Q, model=model) + curve("x265", RATES * 0.9, Q, model=model):
            tr.log_point(p)
    assert main(["report", "--mlflow", mlflow_server, "--experiment", experiment_name(model, "t"),
                 "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "| x265 | vtm | -10.00 |" in out and f"logged to MLflow run {run.run_id}" in out
    assert "View run" not in out  # stdout carries the report only
    client = MlflowClient(mlflow_server)
    assert client.get_run(run.run_id).data.metrics[f"bd_rate/{model}/t/x265_vs_vtm"] == pytest.approx(-10.0)
    assert "report/report.md" in {a.path for a in client.list_artifacts(run.run_id, "report")}


def test_upload_tracking_command(mlflow_server, tmp_path, curve, capsys):
    model = f"m{time.time_ns()}"
    tr = Tracker(offline_dir=tmp_path / "j")
    with tr.start_pipeline_run(model, "t"):
        tr.log_point(curve("vtm", RATES[:1], Q[:1], model=model)[0])
    assert main(["upload-tracking", str(tmp_path / "j"), "--mlflow", mlflow_server]) == 0
    assert "uploaded 2 run(s)" in capsys.readouterr().out
    assert len(MlflowClient(mlflow_server).search_runs(
        [MlflowClient(mlflow_server).get_experiment_by_name(experiment_name(model, "t")).experiment_id])) == 2


def test_report_with_mlflow_down_journals_offline_then_uploads(mlflow_server, tmp_path, curve, capsys):
    """Regression (#12 item 15): with MLflow down `fcbench report --mlflow` wrote no report and
    its hint named a Python-only option. With --offline-dir it writes the report from --results,
    journals the logging, and `fcbench upload-tracking` brings it to MLflow."""
    model = f"off{time.time_ns()}"
    save_points_json(curve("vtm", RATES, Q, model=model) + curve("x265", RATES * 1.1, Q, model=model), tmp_path / "r.json")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    argv = ["report", "--results", str(tmp_path / "r.json"), "--mlflow", dead, "--experiment",
            experiment_name(model, "t"), "--out", str(tmp_path / "out")]
    assert main(argv) == 1
    assert "--offline-dir" in capsys.readouterr().err  # the hint names the CLI's option
    assert main(argv + ["--offline-dir", str(tmp_path / "journal")]) == 0
    out = capsys.readouterr().out
    assert "| x265 | vtm | 10.00 |" in out and "fcbench upload-tracking" in out
    assert (tmp_path / "out" / "report.md").is_file()
    assert main(["upload-tracking", str(tmp_path / "journal"), "--mlflow", mlflow_server]) == 0
    client = MlflowClient(tracking_uri=mlflow_server)
    exp = client.get_experiment_by_name(experiment_name(model, "t"))
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("fcbench.kind") == "pipeline"]
    assert len(parents) == 1 and len(runs) == 1 + 8 and all(r.info.status == "FINISHED" for r in runs)
    assert "bd_rate/" + model + "/t/x265_vs_vtm" in parents[0].data.metrics


def test_the_plot_legend_names_what_is_drawn_in_one_colour_per_codec(curve):
    """#22 item 3: a codec without feature PSNR had an empty legend entry in that panel."""
    from matplotlib.figure import Figure

    from fcbench.components.reporting import _curves

    pts = curve("x265", RATES, Q) + curve("hyperprior", RATES * 0.5, Q, feature_psnr=30.0)
    fig = Figure()
    task_panel, psnr_panel = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    _curves(task_panel, pts, lambda p: p.metric_value, "acc", "task")
    _curves(psnr_panel, pts, lambda p: p.feature_psnr, "PSNR", "fidelity")
    assert task_panel.get_legend_handles_labels()[1] == ["hyperprior", "x265"]
    assert psnr_panel.get_legend_handles_labels()[1] == ["hyperprior"]
    task_colours, psnr_colours = ({ln.get_label(): ln.get_color() for ln in ax.get_lines()} for ax in (task_panel, psnr_panel))
    assert psnr_colours["hyperprior"] == task_colours["hyperprior"] != task_colours["x265"]
