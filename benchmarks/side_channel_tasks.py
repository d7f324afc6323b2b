"""Benchmark: task metric with the outlier side channel on and off, for every task's tiny model.

    .venv/bin/python benchmarks/side_channel_tasks.py                 # all five tasks
    .venv/bin/python benchmarks/side_channel_tasks.py --tasks cls csr --qps 32 42

For each (model, task) it builds the tiny random-weight machine and its generated data
(machines/dinov2/tiny.py, llama3.make_tiny_assets, sd3.make_tiny_assets), runs the benchmark
pipeline with the kfp local runner (`fcbench run benchmark --local`) with two coding chains,
x265 (the paper's) and x265+side (x265:{"chain": {"outliers": true}}), at the task's QPs and
truncation range, and prints the task metric and feature MSE per chain and QP from the
pipeline's own report. The models are random: the curves say what the side channel does to
these features, not to the real models.
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

TASKS = {"cls": "dinov2", "seg": "dinov2", "dpt": "dinov2", "csr": "llama3", "tti": "sd3"}
TOKENIZERS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tokenizer"
SIDE = 'x265:{"chain": {"outliers": true}}'


def make_assets(model: str, task: str, root: Path, scale: int = 1) -> dict:
    """The task's tiny machine and data: 4 images, 8 questions or 4 captions (times `scale`)."""
    tokenizers = TOKENIZERS if TOKENIZERS.is_dir() else None
    if model == "dinov2":
        from fcbench.machines.dinov2 import tiny

        return tiny.make_assets(root, task=task, n_images=4 * scale, seed=0)
    if model == "llama3":
        from fcbench.machines import llama3

        return llama3.make_tiny_assets(root, n_questions=8 * scale, seed=0, tokenizer_dir=tokenizers)
    from fcbench.machines import sd3

    return sd3.make_tiny_assets(root, n_captions=4 * scale, seed=0, tokenizer_dir=tokenizers)


def run_task(model: str, task: str, qps: list[int], work: Path) -> list[dict]:
    from fcbench.pipelines.cli import main

    assets = make_assets(model, task, work / "assets")
    argv = ["run", "benchmark", "--local", "--out", str(work / "run"), "--no-cache", "--model", model,
            "--task", task, "--weights", str(assets["weights"]), "--data", str(assets["data"]),
            "--sample-list", str(assets["sample_list"]), "--codec", "x265", "--codec", SIDE, "--anchor", "x265"]
    argv += [a for k, v in assets["options"].items() for a in ("--option", f"{k}={json.dumps(v) if not isinstance(v, str) else v}")]
    argv += [a for q in qps for a in ("--qp", str(q))]
    if main(argv) != 0:
        raise SystemExit(f"the {model}/{task} pipeline failed")
    reports = list((work / "run" / "artifacts").glob("fcbench-benchmark-*/report/*/rd_points.csv")) or \
        list((work / "run").rglob("rd_points.csv"))
    if len(reports) != 1:
        raise SystemExit(f"expected one rd_points.csv under {work / 'run'}, found {reports}")
    with open(reports[0]) as f:
        return list(csv.DictReader(f))


def print_task(model: str, task: str, points: list[dict], seconds: float) -> None:
    metric = points[0]["metric"] if points else "?"
    print(f"\n{model}/{task}: {metric} ({points[0]['direction'] if points else '?'} is better), {seconds:.0f} s")
    print(f"  {'label':10s} {'QP':>4s} {'bpfp':>8s} {'side':>8s} {metric:>10s} {'feature MSE':>12s}")
    for p in sorted(points, key=lambda p: (p["label"], float(p["rate_point"] or 0))):
        side = float(p["side_bpfp"]) if p.get("side_bpfp") else 0.0
        print(f"  {p['label']:10s} {p['rate_point']:>4s} {float(p['bpfp']):8.4f} {side:8.4f} "
              f"{float(p['metric_value']):10.4g} {float(p['feature_mse'] or 0):12.4g}")


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=list(TASKS))
    p.add_argument("--qps", nargs="+", type=int, default=[22, 27, 32, 37, 42])
    p.add_argument("--work", type=Path, default=None, help="keep the runs here (default: a temp folder)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fcbench-side-") as tmp:
        root = args.work or Path(tmp)
        for task in args.tasks:
            model = TASKS[task]
            t0 = time.perf_counter()
            points = run_task(model, task, args.qps, root / task)
            print_task(model, task, points, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
