"""A local run's tasks started from the warm task server give the same results as tasks started
cold (a new interpreter each, FCBENCH_WARM_TASKS=false), and every task went through the server."""
import csv
import json
import re

import pytest

from fcbench.pipelines.benchmark import benchmark_traditional
from fcbench.pipelines.local import run_local

pytestmark = pytest.mark.integration  # the kfp local runner

TIMINGS = {"enc_s", "dec_s"}


def _results(run):
    with open(run.report_dir / "rd_points.csv") as f:
        return [{k: v for k, v in row.items() if k not in TIMINGS} for row in csv.DictReader(f)]


def test_warm_tasks_give_the_results_of_cold_ones(tiny_cls, tiny_features, tmp_path, monkeypatch):
    args = dict(model="dinov2", task="cls", weights_uri=tiny_cls["weights"], data_uri=tiny_cls["data"],
                sample_list_uri=tiny_cls["sample_list"], machine_options=json.loads(tiny_cls["options"]),
                features_uri=str(tiny_features), codecs=["x265"], qps=[27, 37], anchor="x265")
    monkeypatch.setenv("FCBENCH_WARM_TASKS", "true")
    warm = run_local(benchmark_traditional, args, tmp_path / "warm", cache=False, log_path=tmp_path / "warm.log")
    monkeypatch.setenv("FCBENCH_WARM_TASKS", "false")
    cold = run_local(benchmark_traditional, args, tmp_path / "cold", cache=False, log_path=tmp_path / "cold.log")
    assert cold.task_server is None
    log = re.sub(r"\x1b\[[0-9;]*m", "", (tmp_path / "warm.log").read_text())
    ran = log.count("Executing task") - log.count("Executing task 'importer'")  # an importer runs no process
    assert warm.task_server["tasks"] == ran > 0, "some task started cold"
    assert warm.task_server["not_preloaded"] == []
    rows = _results(warm)
    assert sorted((r["label"], r["rate_point"]) for r in rows if r["label"] == "x265") == [("x265", "27"), ("x265", "37")]
    assert rows == _results(cold)
