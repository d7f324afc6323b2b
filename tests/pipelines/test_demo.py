"""`fcbench demo`'s code path (the `full` pipeline: training + traditional + learned in one
report) on a smaller configuration, and the local MLflow store preparation."""
import csv
import sqlite3

import pytest

from fcbench.pipelines.demo import DemoSettings, run_demo
from fcbench.pipelines.local import prepare_tracking_store


@pytest.mark.slow
@pytest.mark.integration  # the kfp local runner
def test_demo_runs_the_full_pipeline_locally(tmp_path):
    settings = DemoSettings(n_images=4, qps=(32,), lambdas=(0.01,), steps=3, batch_size=4, N=8, M=8,
                            tracking=False)
    result = run_demo(tmp_path / "demo", settings, cache=False)
    with open(result.report_dir / "rd_points.csv") as f:
        got = sorted((row["codec"], float(row["rate_point"])) for row in csv.DictReader(f))
    # av1 codes QP 32 as the CRF it maps to (33)
    assert got == [("av1", 33.0), ("bypass", 0.0), ("hyperprior", 0.01), ("uncompressed", 0.0), ("x265", 32.0)]
    assert result.where["RD plot"].name == "rd_dinov2_cls.png"
    assert all(str(p).startswith(str(tmp_path)) for k, p in result.where.items())
    assert len(list(result.run_dir.glob("**/hyperprior-train/model"))) == 1


@pytest.mark.slow  # creates an MLflow sqlite store
def test_local_sqlite_store_is_created_before_the_run(tmp_path):
    db = tmp_path / "mlflow.db"
    prepare_tracking_store(f"sqlite:///{db}")
    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master where type='table'")}
    assert {"experiments", "runs", "registered_models"} <= tables
    prepare_tracking_store("http://127.0.0.1:1")  # not a local store: nothing to prepare, no connection
