"""Tracking from the pipeline stages: the parent run opened by `open_tracking` (tagged with the KFP
run), the report stage logging into it and closing it, its HTML/Markdown/Metrics outputs, and with
MLflow down the offline journal instead of a failed stage (#12 item 15)."""
from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest
from mlflow import MlflowClient

from fcbench.components.stages.open_tracking import KFP_RUN_ID_TAG, KFP_RUN_URL_TAG, open_parent_run
from fcbench.components.stages.report import make_report
from fcbench.components.tracking import experiment_name, upload_offline

RATES = np.array([0.05, 0.1, 0.2, 0.4])
Q = 70 + 4 * np.log2(RATES / 0.05)


@pytest.fixture
def dead():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def point_files(tmp_path, curve, model):
    files = []
    for i, p in enumerate(curve("vtm", RATES, Q, model=model) + curve("x265", RATES * 1.1, Q, model=model)):
        f = tmp_path / "points" / f"{i}.json"
        f.parent.mkdir(exist_ok=True)
        f.write_text(json.dumps(p.as_dict()))
        files.append(str(f))
    return files


def test_parent_run_is_tagged_with_the_kfp_run_and_closed_by_the_report(mlflow_server, tmp_path, curve, monkeypatch):
    monkeypatch.setenv("FCBENCH_KFP_UI_URL", "https://kubeflow.example.org/pipeline")
    monkeypatch.setenv("FCBENCH_MLFLOW_UI_URL", "https://mlflow.example.org")
    model = f"st{time.time_ns()}"
    parent, note = open_parent_run(model, "t", "fcbench-benchmark", mlflow_server, "", "kfp-uuid-1", "bench-run-1", {})
    client = MlflowClient(tracking_uri=mlflow_server)
    run = client.get_run(parent)
    assert run.info.status == "RUNNING" and run.info.run_name == "bench-run-1"
    assert run.data.tags[KFP_RUN_ID_TAG] == "kfp-uuid-1"
    assert run.data.tags[KFP_RUN_URL_TAG] == "https://kubeflow.example.org/pipeline/#/runs/details/kfp-uuid-1"
    assert "https://mlflow.example.org/#/experiments/" in note
    out = make_report(point_files(tmp_path, curve, model), str(tmp_path / "report"), "vtm", "", mlflow_server, {},
                      run_name="bench-run-1", parent_run_id=parent, kfp_run_id="kfp-uuid-1")
    assert client.get_run(parent).info.status == "FINISHED"
    children = client.search_runs([run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 8
    assert out["bd_rates"] == {"bd_rate_x265_vs_vtm": pytest.approx(10.0)}
    assert out["mlflow_link"].endswith(f"/runs/{parent}") and out["mlflow_link"] in out["html"]
    assert "kfp-uuid-1" in out["html"] and "data:image/png;base64," in out["html"]
    assert (tmp_path / "report" / "report.html").is_file() and not out["offline"]


def test_mlflow_down_the_stages_journal_and_the_report_says_so(mlflow_server, dead, tmp_path, curve, monkeypatch):
    """Regression: the report stage failed when MLflow was unreachable."""
    monkeypatch.setenv("FCBENCH_OFFLINE_DIR", str(tmp_path / "offline"))
    model = f"down{time.time_ns()}"
    parent, note = open_parent_run(model, "t", "fcbench-benchmark", dead, "", "kfp-uuid-2", "bench-run-2", {})
    assert parent.startswith("offline-") and "unreachable" in note
    out = make_report(point_files(tmp_path, curve, model), str(tmp_path / "report"), "vtm", "", dead, {},
                      run_name="bench-run-2", parent_run_id=parent)
    journal = tmp_path / "offline" / "bench-run-2"
    assert out["offline"] and out["offline_dir"] == str(journal)
    for text in (out["markdown"], out["html"], (tmp_path / "report" / "report.md").read_text()):
        assert "MLflow was unreachable" in text and f"fcbench upload-tracking {journal}" in text
    assert (tmp_path / "report" / "offline-tracking").is_dir()  # travels with the report artifact
    assert out["bd_rates"]  # the report is complete anyway
    ids = upload_offline(journal, mlflow_server)
    client = MlflowClient(tracking_uri=mlflow_server)
    uploaded = client.get_run(ids[parent])
    assert uploaded.info.status == "FINISHED" and uploaded.data.tags[KFP_RUN_ID_TAG] == "kfp-uuid-2"
    exp = client.get_experiment_by_name(experiment_name(model, "t"))
    assert len(client.search_runs([exp.experiment_id])) == 1 + 8


def test_offline_off_makes_an_unreachable_server_an_error(dead, tmp_path, curve):
    with pytest.raises(Exception, match="unreachable"):
        open_parent_run("m", "t", "p", dead, "off", "id", "name", {})


def test_tracking_off(tmp_path, curve):
    assert open_parent_run("m", "t", "p", "off", "", "id", "name", {}) == ("", "Tracking is off for this run.")
    out = make_report(point_files(tmp_path, curve, "m"), str(tmp_path / "r"), "vtm", "", "off", {})
    assert out["note"] == "Tracking is off for this run." and not out["offline"]
