"""What a pipeline task pays before and after its work: the imports of a fresh Python process and
its exit, each measured in its own interpreter (the minimum of --repeat runs: other processes on
the machine only ever add time).

    .venv/bin/python benchmarks/task_imports.py [--repeat 3]

Rows: the kfp executor alone (every task), each stage module as a task imports it, the heavy
packages stages use (torch, CompressAI imported plainly and through
fcbench.codecs.hyperprior.lean_compressai, mlflow, matplotlib, PyAV), and a process that
imported torch + CompressAI ending normally vs after gc.freeze() (what a task does after its
stage, components/stages/context.py). CPU is user + system seconds of the whole process,
interpreter start-up included; the `+` column subtracts the bare interpreter.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

STAGES = ("extract", "prepare_coding", "code_traditional", "hyperprior_train", "hyperprior_infer", "evaluate", "report")
EXECUTOR = "import kfp.dsl.executor_main"
CASES: list[tuple[str, str]] = [
    ("python (bare interpreter)", "pass"),
    ("kfp executor (every task)", EXECUTOR),
    *[(f"kfp executor + stages.{s}", f"{EXECUTOR}; import fcbench.components.stages.{s}") for s in STAGES],
    ("torch", "import torch"),
    ("torch + compressai (plain import)", "import torch, compressai"),
    ("torch + compressai (lean_compressai)",
     "import torch; from fcbench.codecs.hyperprior import lean_compressai; lean_compressai.load()"),
    ("mlflow", "import mlflow"),
    ("matplotlib.pyplot", "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot"),
    ("av (PyAV)", "import av"),
    ("torch + compressai lean, plain exit", "import torch; from fcbench.codecs.hyperprior.model import build_model"),
    ("torch + compressai lean, gc.freeze() then exit",
     "import gc, torch; from fcbench.codecs.hyperprior.model import build_model; gc.freeze()"),
]


def measure(code: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of a fresh interpreter running `code` and exiting."""
    env = {**os.environ, "_KFP_RUNTIME": "true"}
    before = os.times()
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system), wall


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    opts = p.parse_args(argv)
    load = os.getloadavg()
    rows = []
    for label, code in CASES:
        runs = [measure(code) for _ in range(opts.repeat)]
        rows.append((label, min(r[0] for r in runs), min(r[1] for r in runs)))
    bare = rows[0][1]
    width = max(len(r[0]) for r in rows)
    print(f"{'process':<{width}}  {'CPU s':>6}  {'+ CPU s':>7}  {'wall s':>6}")
    for label, cpu, wall in rows:
        print(f"{label:<{width}}  {cpu:6.2f}  {cpu - bare:7.2f}  {wall:6.2f}")
    print(f"\nminimum of {opts.repeat} runs each; load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after, "
          f"on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
