"""The klt codec in the pipelines: `fit_klt` fits the table on training features, publishes it and
registers it in MLflow; the benchmark pipeline codes with a codec entry naming the published table
(staged in the codec tasks) beside x265, and the report holds its points."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import sqlite3

import pytest

from fcbench.pipelines.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # the kfp local runner


def _machine(tiny_cls, data_flag: str, list_flag: str) -> list[str]:
    argv = ["--model", "dinov2", "--task", "cls", "--weights", tiny_cls["weights"], data_flag, tiny_cls["data"],
            list_flag, tiny_cls["sample_list"]]
    return argv + [a for k, v in json.loads(tiny_cls["options"]).items() for a in ("--option", f"{k}={v}")]


def _run(argv: list[str]) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0, printed.getvalue()
    return printed.getvalue()


def test_fit_then_benchmark_with_the_published_table(tiny_cls, tmp_path):
    store, db = tmp_path / "store", tmp_path / "mlflow.db"
    # The tiny assets have one image set: the table is fitted on it here (real runs fit on training data).
    said = _run(["run", "fit_klt", "--local", "--out", str(tmp_path / "fit"), "--no-cache",
                 *_machine(tiny_cls, "--train-data", "--train-sample-list"), "--storage-uri", str(store),
                 "--tracking-uri", f"sqlite:///{db}"])
    table = store / "dinov2" / "cls" / "klt" / "table.npz"
    assert table.is_file() and "klt table:" in said
    versions = list(sqlite3.connect(db).execute("select name, version from model_versions"))
    assert versions == [("fcbench-dinov2-cls-klt", 1)]

    entry = json.dumps({"table": str(table)})
    _run(["run", "benchmark", "--local", "--out", str(tmp_path / "bench"), "--no-cache",
          *_machine(tiny_cls, "--data", "--sample-list"), "--codec", "x265", "--codec", f"klt:{entry}",
          "--anchor", "x265", "--qp", "22", "--qp", "32", "--qp", "42"])
    (report,) = (tmp_path / "bench" / "artifacts").glob("fcbench-benchmark-*/**/report_dir/rd_points.csv")
    with open(report) as f:
        points = {(p["label"], int(float(p["rate_point"]))): p for p in csv.DictReader(f)}
    rates = [float(points[("klt", q)]["bpfp"]) for q in (22, 32, 42)]
    assert rates == sorted(rates, reverse=True) and rates[-1] >= 0 and rates[0] > 0
    assert all(("x265", q) in points for q in (22, 32, 42))
    text = (report.parent / "report.md").read_text()
    assert "| klt | x265 |" in text and "none (nothing truncated)" in text
