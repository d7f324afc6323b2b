"""`fcbench upload-tracking` is idempotent after a kill: no duplicate run, no run left RUNNING, no
duplicate model version or metric value, whatever instant the upload died at."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from mlflow import MlflowClient

from fcbench.components.reporting import build_report
from fcbench.components.tracking import Tracker, experiment_name, registered_model_name, upload_offline
from fcbench.components.tracking import offline as offline_module
from fcbench.components.tracking.offline import OFFLINE_RUN_TAG

RATES = np.array([0.05, 0.1, 0.2, 0.4])
Q = 70 + 4 * np.log2(RATES / 0.05)


def journal(tmp_path, curve, model: str):
    """A pipeline run recorded offline: parent, 8 point runs, the report, one registered training."""
    root = tmp_path / "journal"
    tr = Tracker(offline_dir=root)
    points = curve("vtm", RATES, Q, model=model) + curve("x265", RATES * 1.2, Q, model=model)
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"weights")
    with tr.start_pipeline_run(model, "t", params={"qps": [22, 27]}):
        for p in points:
            tr.log_point(p)
        tr.log_training(model, "t", 0.01, [{"epoch": 0, "loss": 2.0}, {"epoch": 1, "loss": 1.0}], ckpt)
        tr.log_report(build_report(points, tmp_path / "report", anchor="vtm"))
    return root, 1 + len(points) + 1  # parent, points, training


def census(uri: str, model: str) -> dict:
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name(experiment_name(model, "t"))
    runs = client.search_runs([exp.experiment_id], max_results=1000) if exp else []
    offline_ids = [r.data.tags.get(OFFLINE_RUN_TAG) for r in runs]
    name = registered_model_name(model, "t", 0.01)
    versions = client.search_model_versions(f"name = '{name}'") if exp else []
    # a metric logged once per step (training curves have several steps); a replay must add none
    histories = [client.get_metric_history(r.info.run_id, k) for r in runs for k in r.data.metrics]
    return {"runs": len(runs), "duplicates": len(offline_ids) - len(set(offline_ids)),
            "not_finished": sum(r.info.status != "FINISHED" for r in runs), "versions": len(versions),
            "repeated_metric_values": sum(len(h) - len({m.step for m in h}) for h in histories),
            "untagged": sum(1 for t in offline_ids if not t)}


def test_a_replay_killed_after_creating_a_run_does_not_duplicate_it(mlflow_server, curve, tmp_path, monkeypatch):
    """Regression: the progress file was written after the MLflow call; dying in between
    created the run again on resume and left the first one RUNNING."""
    model = f"kill{time.time_ns()}"
    root, expected = journal(tmp_path, curve, model)
    real_write, calls = offline_module.write_json, {"n": 0}

    def dies_before_saving(path, obj):
        calls["n"] += 1
        if calls["n"] in (1, 4):  # after the parent's start_run, and after a point's start_run
            raise SystemExit("killed")
        real_write(path, obj)

    monkeypatch.setattr(offline_module, "write_json", dies_before_saving)
    for _ in range(2):
        with pytest.raises(SystemExit):
            upload_offline(root, mlflow_server)
    monkeypatch.setattr(offline_module, "write_json", real_write)
    upload_offline(root, mlflow_server)
    upload_offline(root, mlflow_server)  # a finished upload repeats nothing
    assert census(mlflow_server, model) == {"runs": expected, "duplicates": 0, "not_finished": 0, "versions": 1,
                                            "repeated_metric_values": 0, "untagged": 0}


def _done(root) -> int:
    state = root / "uploaded.json"
    try:
        return sum(json.loads(state.read_text())["done"].values()) if state.is_file() else 0
    except (ValueError, KeyError):  # read while being replaced: try again
        return -1


@pytest.mark.slow
def test_kill_9_at_random_points_then_finish(mlflow_server, curve, tmp_path):
    """Fault injection: `fcbench upload-tracking` killed with SIGKILL at random instants in the
    middle of its work (after a random number of replayed events, plus a random few ms), several
    times, then run to the end; the census (printed) must equal a clean upload's."""
    model = f"kill9{time.time_ns()}"
    root, expected = journal(tmp_path, curve, model)
    total = sum(len(list((session / "events").glob("*.json"))) for session in root.iterdir() if session.is_dir())
    rng = random.Random(int(os.environ.get("FCBENCH_FAULT_SEED", "1")))
    cmd = [sys.executable, "-m", "fcbench.pipelines.cli", "upload-tracking", str(root), "--mlflow", mlflow_server]
    kills, at = 0, []
    for _ in range(5):
        before = max(_done(root), 0)
        if before >= total - 1:
            break
        target = rng.randint(before + 1, total - 1)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while proc.poll() is None and _done(root) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))  # land anywhere in the next MLflow call
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        at.append(max(_done(root), 0))
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    got = census(mlflow_server, model)
    print(json.dumps({"events": total, "kills": kills, "events_done_after_each_kill": at,
                      "expected_runs": expected, **got}))
    assert kills >= 3
    assert got == {"runs": expected, "duplicates": 0, "not_finished": 0, "versions": 1,
                   "repeated_metric_values": 0, "untagged": 0}
