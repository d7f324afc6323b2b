"""Tracking against a real MLflow server on loopback (and a local sqlite store)."""
from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest
from mlflow import MlflowClient

from fcbench.components.reporting import build_report
from fcbench.components.tracking import (
    KIND_TAG,
    Tracker,
    TrackingUnavailableError,
    experiment_name,
    load_registered_checkpoint,
    points_from_mlflow,
    registered_model_name,
    upload_offline,
)

RATES = np.array([0.05, 0.1, 0.2, 0.4])
Q = 70 + 4 * np.log2(RATES / 0.05)


def _children(client, parent_id):
    exp = client.get_run(parent_id).info.experiment_id
    return client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent_id}'")


def test_pipeline_run_with_nested_points(mlflow_server, curve, tmp_path, monkeypatch):
    monkeypatch.setenv("FCBENCH_IMAGE_DIGEST", "sha256:feed")
    model = f"m{time.time_ns()}"
    pts = (curve("vtm", RATES, Q, model=model, params={"qp": 22, "truncation": [-5, 5], "bit_depth": 10,
                                                        "packing": "generic", "legacy": False},
                 tags={"binary_sha256": "b1", "cfg_sha256": "c1"}, enc_s=2.5, dec_s=0.1, codec_version="VTM 23.13",
                 side_bpfp=0.0, container_bpfp=0.02, samples=4)
           + curve("x265", RATES * 1.25, Q, model=model, metric="acc", enc_s=0.1, dec_s=0.01, samples=4))
    tr = Tracker(mlflow_server)
    assert not tr.offline
    with tr.start_pipeline_run(model, "t", params={"samples": 4}, tags={"kfp.run": "r1"}) as run:
        child_ids = [tr.log_point(p) for p in pts]
        report = build_report(pts, tmp_path / "report")
        tr.log_report(report)
    client = MlflowClient(mlflow_server)
    parent = client.get_run(run.run_id)
    assert parent.info.status == "FINISHED"
    assert client.get_experiment(parent.info.experiment_id).name == experiment_name(model, "t") == f"fcbench/{model}/t"
    assert parent.data.params == {"samples": "4"}
    assert parent.data.tags[KIND_TAG] == "pipeline" and parent.data.tags["kfp.run"] == "r1"
    assert parent.data.tags["fcbench.image_digest"] == "sha256:feed"
    for key in ("fcbench.version", "fcbench.git_sha", "fcbench.conditions_version", "fcbench.host"):
        assert parent.data.tags[key]
    assert parent.data.metrics[f"bd_rate/{model}/t/x265_vs_vtm"] == pytest.approx(25.0)
    # #22 item 6: the runs table's first view holds the comparison: speed-ups and who wins
    assert parent.data.metrics[f"enc_speedup/{model}/t/x265_vs_vtm"] == pytest.approx(25.0)
    assert parent.data.metrics[f"dec_speedup/{model}/t/x265_vs_vtm"] == pytest.approx(10.0)
    assert parent.data.tags[f"fcbench.winner/{model}/t"].startswith(f"{model} / t: the anchor vtm wins")
    arts = {a.path for a in client.list_artifacts(run.run_id, "report")}
    assert {"report/report.md", "report/bdrate.csv", "report/rd_points.csv", f"report/rd_{model}_t.png"} <= arts

    children = {r.info.run_id: r for r in _children(client, run.run_id)}
    assert set(children) == set(child_ids)
    vtm22 = children[child_ids[0]]
    assert vtm22.info.run_name == "vtm@qp22" and vtm22.info.status == "FINISHED"
    assert vtm22.data.params == {"model": model, "task": "t", "label": "vtm", "rate_point": "22",
                                 "codec_version": "VTM 23.13", "metric": "acc", "direction": "higher",
                                 "qp": "22", "truncation": "[-5, 5]", "bit_depth": "10", "packing": "generic",
                                 "legacy": "false", "samples": "4"}
    assert vtm22.data.metrics == pytest.approx({"bpfp": 0.05, "side_bpfp": 0.0, "container_bpfp": 0.02,
                                                "ebpfp": 0.05, "acc": 70.0, "feature_mse": 0.01,
                                                "encode_cpu_seconds": 2.5, "decode_cpu_seconds": 0.1})
    assert vtm22.data.tags["binary_sha256"] == "b1" and vtm22.data.tags["cfg_sha256"] == "c1"
    assert vtm22.data.tags[KIND_TAG] == "point" and vtm22.data.tags["fcbench.image_digest"] == "sha256:feed"
    # the report can be rebuilt from MLflow alone
    back = points_from_mlflow(mlflow_server, experiment_name(model, "t"))
    assert sorted(back, key=lambda p: (p.label, p.bpfp)) == sorted(pts, key=lambda p: (p.label, p.bpfp))


def test_failed_body_marks_parent_failed(mlflow_server):
    tr = Tracker(mlflow_server)
    with pytest.raises(RuntimeError, match="boom"):
        with tr.start_pipeline_run("m-fail", "t") as run:
            raise RuntimeError("boom")
    assert MlflowClient(mlflow_server).get_run(run.run_id).info.status == "FAILED"


def test_param_clash_is_an_error(mlflow_server, curve):
    (p,) = curve("vtm", RATES[:1], Q[:1], params={"codec": "x265"})
    with pytest.raises(ValueError, match=r"params \['codec'\] contradict"):
        Tracker(mlflow_server).log_point(p, parent_run_id=None)


def test_training_registers_new_versions_and_loads_back(mlflow_server, tmp_path):
    model = f"m{time.time_ns()}"
    curves = [{"epoch": e, "loss": 1.0 / (e + 1), "bpp": 0.5 - 0.01 * e, "val_loss": 1.1 / (e + 1)} for e in range(5)]
    tr = Tracker(mlflow_server)
    uris = []
    for i in range(2):
        ckpt = tmp_path / f"v{i}" / "checkpoint.pth.tar"
        ckpt.parent.mkdir()
        ckpt.write_bytes(bytes([i]) * 1000)
        uris.append(tr.log_training(model, "cls", 0.0017, curves, ckpt, {"epochs": 5, "batch": 8, "lr": 1e-4, "lmbda": 0.0017}))
    name = registered_model_name(model, "cls", 0.0017)
    assert name == f"fcbench-{model}-cls-hyperprior-lambda0.0017"
    assert uris == [f"models:/{name}/1", f"models:/{name}/2"]
    client = MlflowClient(mlflow_server)
    versions = client.search_model_versions(f"name = '{name}'")
    assert sorted(v.version for v in versions) == ["1", "2"]
    run = client.get_run(versions[0].run_id)
    assert run.data.params["lambda"] == "0.0017" and run.data.params["epochs"] == "5"
    assert "lmbda" not in run.data.params  # one name per parameter (#22 item 6)
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [(e, 1.0 / (e + 1)) for e in range(5)]
    got = load_registered_checkpoint(uris[1], tmp_path / "dl", tracking_uri=mlflow_server)
    assert got.name == "checkpoint.pth.tar" and got.read_bytes() == bytes([1]) * 1000
    with pytest.raises(ValueError, match="not a number"):
        tr.log_training(model, "cls", 0.0017, [{"epoch": 0, "loss": "x"}], got)
    with pytest.raises(FileNotFoundError):
        tr.log_training(model, "cls", 0.0017, curves, tmp_path / "missing.pth")


def _dead_uri() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_unreachable_server_fails_fast(tmp_path):
    dead = _dead_uri()
    t0 = time.monotonic()
    with pytest.raises(TrackingUnavailableError, match=f"{dead} is unreachable"):
        Tracker(dead)
    # seconds, not MLflow's minutes of retries (a loose bound: this checks behaviour, not speed)
    assert time.monotonic() - t0 < 10
    with pytest.raises(TrackingUnavailableError):  # fail_fast wins over an offline directory
        Tracker(dead, offline_dir=tmp_path / "j")
    assert not (tmp_path / "j").exists()
    with pytest.raises(TrackingUnavailableError, match=dead):
        points_from_mlflow(dead, "fcbench/m/t")
    (tmp_path / "j2").mkdir()
    with pytest.raises(TrackingUnavailableError, match=dead):
        upload_offline(tmp_path / "j2", dead)
    with pytest.raises(TrackingUnavailableError, match="file stores"):
        Tracker("file:///tmp/mlruns")


def test_offline_journal_then_upload(mlflow_server, curve, tmp_path):
    model = f"m{time.time_ns()}"
    dead = _dead_uri()
    # a later step whose journal session sorts first: upload must still replay the parent first
    step = Tracker(offline_dir=tmp_path / "journal")
    time.sleep(0.01)
    tr = Tracker(dead, offline_dir=tmp_path / "journal", fail_fast=False)
    assert tr.offline
    pts = curve("vtm", RATES, Q, model=model) + curve("x265", RATES * 0.8, Q, model=model)
    with tr.start_pipeline_run(model, "t", params={"samples": 2}) as run:
        assert run.run_id.startswith("offline-")
        for p in pts[:4]:
            tr.log_point(p)
    # the other step (a process of its own) logs into the same parent, reports and trains a model
    for p in pts[4:]:
        step.log_point(p, parent_run_id=run.run_id)
    step.log_report(build_report(pts, tmp_path / "rep"), run_id=run.run_id)
    ckpt = tmp_path / "ck.pth.tar"
    ckpt.write_bytes(b"weights")
    uri = step.log_training(model, "t", 0.01, [{"epoch": 0, "loss": 1.0}], ckpt, {"epochs": 1}, parent_run_id=run.run_id)
    assert load_registered_checkpoint(uri, tmp_path / "dl-offline").read_bytes() == b"weights"

    ids = upload_offline(tmp_path / "journal", mlflow_server)
    again = upload_offline(tmp_path / "journal", mlflow_server)  # resumable: nothing repeated
    assert again == ids
    client = MlflowClient(mlflow_server)
    parent = client.get_run(ids[run.run_id])
    assert parent.info.status == "FINISHED" and parent.data.params == {"samples": "2"}
    assert parent.data.metrics[f"bd_rate/{model}/t/x265_vs_vtm"] == pytest.approx(-20.0)
    assert "report/report.md" in {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    children = _children(client, parent.info.run_id)
    kinds = sorted(c.data.tags[KIND_TAG] for c in children)
    assert kinds == ["point"] * 8 + ["training"]
    back = points_from_mlflow(mlflow_server, experiment_name(model, "t"), parent.info.run_id)
    assert len(back) == 8
    name = registered_model_name(model, "t", 0.01)
    (version,) = client.search_model_versions(f"name = '{name}'")
    dl = load_registered_checkpoint(f"models:/{name}/{version.version}", tmp_path / "dl", tracking_uri=mlflow_server)
    assert dl.read_bytes() == b"weights"


@pytest.mark.slow  # creates an MLflow sqlite store
def test_local_sqlite_default_needs_no_server(tmp_path, curve, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tr = Tracker(local_dir=tmp_path / "store")
    assert tr.tracking_uri == f"sqlite:///{tmp_path}/store/mlflow.db"
    with tr.start_pipeline_run("m", "t") as run:
        tr.log_point(curve("vtm", RATES[:1], Q[:1])[0])
    (back,) = tr.points(experiment_name("m", "t"), run.run_id)
    assert back.label == "vtm"
    assert (tmp_path / "store" / "mlflow.db").is_file()
    # artifacts (here the report files) land beside the database, not under a mangled path
    exp = MlflowClient(tr.tracking_uri).get_experiment_by_name(experiment_name("m", "t"))
    assert exp.artifact_location == (tmp_path / "store" / "artifacts").as_uri()


def test_orphan_offline_child_is_reported(mlflow_server, curve, tmp_path):
    step = Tracker(offline_dir=tmp_path / "j")
    step.log_point(curve("vtm", RATES[:1], Q[:1])[0], parent_run_id="offline-0123")
    with pytest.raises(ValueError, match=r"name run\(s\) \['offline-0123'\]"):
        upload_offline(tmp_path / "j", mlflow_server)


def test_overlong_param_is_kept_whole_in_params_json(mlflow_server, curve, tmp_path):
    low = [round(-5 - i / 1000, 4) for i in range(1500)]  # per-channel ranges: > 6000 chars as JSON
    (p,) = curve("vtm", RATES[:1], Q[:1], params={"truncation_low": low})
    run_id = Tracker(mlflow_server).log_point(p)
    client = MlflowClient(mlflow_server)
    value = client.get_run(run_id).data.params["truncation_low"]
    assert value.startswith("sha256:") and "see params.json" in value
    full = json.loads(open(client.download_artifacts(run_id, "params.json", str(tmp_path))).read())
    assert json.loads(full["truncation_low"]) == low


def test_parent_run_spanning_steps(mlflow_server, curve):
    """KFP steps are processes: one opens the parent run, others log into it by id, the last closes it."""
    model = f"m{time.time_ns()}"
    run = Tracker(mlflow_server).open_pipeline_run(model, "t", params={"qps": [22, 27]})
    client = MlflowClient(mlflow_server)
    assert client.get_run(run.run_id).info.status == "RUNNING"
    Tracker(mlflow_server).log_point(curve("vtm", RATES[:1], Q[:1], model=model)[0], parent_run_id=run.run_id)
    last = Tracker(mlflow_server)
    last.end_pipeline_run(run.run_id)
    assert client.get_run(run.run_id).info.status == "FINISHED"
    assert len(_children(client, run.run_id)) == 1
    with pytest.raises(ValueError, match="run status"):
        last.end_pipeline_run(run.run_id, "DONE")
