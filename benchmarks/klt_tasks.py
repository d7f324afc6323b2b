"""Benchmark: the task effect of the klt codec, through the benchmark pipeline, on every task's tiny
model: task-metric BD-rate of klt against x265 (and on feature PSNR).

    .venv/bin/python benchmarks/klt_tasks.py                  # all five tasks
    .venv/bin/python benchmarks/klt_tasks.py --tasks cls csr

For each (model, task): the tiny random-weight machine and its generated data (as
benchmarks/side_channel_tasks.py makes them, with twice the samples), the samples split in two
halves by the sample list; the first half's features are extracted (`fcbench extract`) and the
klt table is fitted on them (`fcbench klt fit`); the benchmark pipeline then runs on the second
half (`fcbench run benchmark --local`) with x265 and klt at the task's QPs, and the report's
BD-rates of klt against x265 are printed. The models are random: the figures say what klt does
to these features and metrics, not to the real models; report them, do not tune on them.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from side_channel_tasks import TASKS, make_assets  # noqa: E402  (the same tiny machines and data)


def _options(assets: dict) -> list[str]:
    return [a for k, v in assets["options"].items() for a in ("--option", f"{k}={json.dumps(v) if not isinstance(v, str) else v}")]


def split_list(sample_list: Path, work: Path) -> tuple[Path, Path]:
    lines = [line for line in sample_list.read_text().splitlines() if line.strip()]
    half = len(lines) // 2
    train, test = work / "train_list.txt", work / "test_list.txt"
    train.write_text("\n".join(lines[:half]) + "\n")
    test.write_text("\n".join(lines[half:]) + "\n")
    return train, test


def run_task(model: str, task: str, qps: list[int], work: Path) -> tuple[list[dict], dict]:
    from fcbench.pipelines.cli import main

    assets = make_assets(model, task, work / "assets", scale=2)
    train_list, test_list = split_list(Path(assets["sample_list"]), work)
    machine = ["--model", model, "--task", task, "--weights", str(assets["weights"]), "--data", str(assets["data"]),
               *_options(assets)]
    if main(["extract", *machine, "--sample-list", str(train_list), "--out", str(work / "train"), "--no-progress"]) != 0:
        raise SystemExit(f"extracting the {model}/{task} training features failed")
    if main(["klt", "fit", "--features", str(work / "train"), "--out", str(work / "table.npz")]) != 0:
        raise SystemExit(f"fitting the {model}/{task} table failed")
    argv = ["run", "benchmark", "--local", "--out", str(work / "run"), "--no-cache", *machine,
            "--sample-list", str(test_list), "--codec", "x265", "--codec",
            "klt:" + json.dumps({"table": str(work / "table.npz")}), "--anchor", "x265"]
    argv += [a for q in qps for a in ("--qp", str(q))]
    if main(argv) != 0:
        raise SystemExit(f"the {model}/{task} pipeline failed")
    (report,) = (work / "run").rglob("report_dir") or list((work / "run").rglob("rd_points.csv"))[:1]
    folder = report if report.is_dir() else report.parent
    with open(folder / "rd_points.csv") as f:
        points = list(csv.DictReader(f))
    with open(folder / "bdrate.csv") as f:
        bd = {row["label"]: row for row in csv.DictReader(f)}
    return points, bd.get("klt", {})


def _pct(value: Optional[str]) -> str:
    return f"{float(value):+.1f} %" if value else "n/a"


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=list(TASKS))
    p.add_argument("--qps", nargs="+", type=int, default=[22, 27, 32, 37, 42])
    p.add_argument("--work", type=Path, default=None, help="keep the runs here (default: a temp folder)")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fcbench-klt-") as tmp:
        root = args.work or Path(tmp)
        for task in args.tasks:
            model = TASKS[task]
            t0 = time.perf_counter()
            points, bd = run_task(model, task, args.qps, root / task)
            metric = points[0]["metric"]
            print(f"\n{model}/{task}: {metric}, {time.perf_counter() - t0:.0f} s")
            for pt in sorted(points, key=lambda pt: (pt["label"], float(pt["rate_point"] or 0))):
                print(f"  {pt['label']:12s} {pt['rate_point']:>5s} bpfp {float(pt['bpfp']):8.4f} {metric} "
                      f"{float(pt['metric_value']):9.4g} feature MSE {float(pt['feature_mse'] or 0):10.4g}")
            rows.append((f"{model}/{task}", metric, bd))
    print(f"\n{'task':12s} {'metric':10s} {'BD-rate klt vs x265':>20s} {'on feature PSNR':>16s}  flags")
    for name, metric, bd in rows:
        print(f"{name:12s} {metric:10s} {_pct(bd.get('bd_rate')):>20} {_pct(bd.get('bd_rate_feature_psnr')):>16}  "
              f"{bd.get('flags', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
