"""`fcbench demo`'s code path (the `full` pipeline: training + traditional + learned in one
report) on a smaller configuration, and the local MLflow store preparation."""
import csv
import io
import re
import sqlite3
from dataclasses import replace

import pytest

from fcbench.pipelines.demo import DemoSettings, run_demo, what_to_open
from fcbench.pipelines.local import prepare_tracking_store


@pytest.mark.slow
@pytest.mark.integration  # the kfp local runner
def test_demo_runs_the_full_pipeline_locally(tmp_path):
    settings = DemoSettings(n_images=4, qps=(32,), lambdas=(0.01, 0.1), steps=3, batch_size=4, N=8, M=8)
    shown = io.StringIO()
    result = run_demo(tmp_path / "demo", settings, cache=False, progress=shown)
    with open(result.report_dir / "rd_points.csv") as f:
        got = sorted((row["label"], float(row["rate_point"])) for row in csv.DictReader(f))
    # av1 codes QP 32 as the CRF it maps to (33)
    assert got == [("av1", 33.0), ("bypass", 0.0), ("hyperprior", 0.01), ("hyperprior", 0.1), ("uncompressed", 0.0),
                   ("x265", 32.0)]
    assert result.where["RD plot"].name == "rd_dinov2_cls.png"
    assert all(str(p).startswith(str(tmp_path)) for k, p in result.where.items() if k != "MLflow store")
    assert len(list(result.run_dir.glob("**/hyperprior-train/model"))) == 2
    lines = shown.getvalue().splitlines()  # what the terminal showed while it ran
    assert "tasks done: hyperprior_train (rate point 0.01)" in shown.getvalue()
    assert re.search(r"finished: (\d+)/\1 tasks done$", lines[-1]), lines[-1]  # every task of the total ran
    # Both trainings (a loop that also takes the parent run id from open_tracking) are children
    # of the pipeline's MLflow parent run, not of a loop item.
    db = sqlite3.connect(tmp_path / "demo" / "mlflow" / "mlflow.db")
    names = dict(db.execute("select run_uuid, name from runs"))
    parents = dict(db.execute("select run_uuid, value from tags where key = 'mlflow.parentRunId'"))
    trainings = [run for run, name in names.items() if name.startswith("train-hyperprior")]
    assert len(trainings) == 2 and {names[parents[t]] for t in trainings} == {result.run_dir.name}
    said = what_to_open(result)
    assert str(result.report_dir / "report.md") in said and str(result.where["RD plot"]) in said
    assert f"mlflow ui --backend-store-uri {result.mlflow_uri}" in said and '"Model training"' in said
    assert "MLflow" not in what_to_open(replace(result, mlflow_uri=None))  # --no-tracking: no store to serve


@pytest.mark.slow  # creates an MLflow sqlite store
def test_local_sqlite_store_is_created_before_the_run(tmp_path):
    db = tmp_path / "mlflow.db"
    prepare_tracking_store(f"sqlite:///{db}")
    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master where type='table'")}
    assert {"experiments", "runs", "registered_models"} <= tables
    prepare_tracking_store("http://127.0.0.1:1")  # not a local store: nothing to prepare, no connection
