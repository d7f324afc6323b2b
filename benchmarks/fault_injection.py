"""Fault injection: signal commands at random moments, repeatedly; count losses and leftovers.

    .venv/bin/python benchmarks/fault_injection.py                       # every case, 10 runs each
    .venv/bin/python benchmarks/fault_injection.py --case sweep-kill9 --runs 30

Cases (add one with @case; the harness is benchmarks/fault_harness.py):
  sweep-kill9    kill -9 the main process of `fcbench encode -j 2` (x265, 5 QPs) at a random moment
  sweep-sigterm  SIGTERM instead: it must exit 143 and keep every finished job in its table

After each signal: no process of the command's session may remain (forkserver, resource tracker,
workers), and a rerun must finish with a table equal, row for row, to an undisturbed run's,
every reconstruction intact. Prints one line of counts per case, with the hidden temp files that
writes cut short by SIGKILL leave (never read, they lose nothing).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from fault_harness import Outcome, signal_at_random, summary_table

CASES: dict[str, Callable[[Path, random.Random], Outcome]] = {}
QPS = ("22", "27", "32", "37", "42")


def case(name: str):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


def _features(root: Path) -> Path:
    from fcbench.codecs import FeatureSet

    if not (root / "manifest.json").is_file():
        rng = np.random.default_rng(0)
        with FeatureSet.create(root, "llama3", "csr", "synthetic") as fs:
            for i in range(6):
                smooth = np.cumsum(rng.normal(size=(1, 1, 64, 256)), axis=3) / 8
                fs.write(f"s{i}", smooth.astype(np.float32))
    return root


def _encode(features: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "fcbench.pipelines.cli", "encode", "--features", str(features), "--codec", "x265",
            "--qp", *QPS, "--out", str(out), "-j", "2", "--no-progress", "--low", "-20", "--high", "20"]


def _rows(out: Path) -> dict:
    body = json.loads((out / "results.json").read_text())
    return {(r["rate_point"], r["sample"]): (r["bpfp"], r["mse"]) for r in body["rows"]}


def _reference(work: Path) -> dict:
    """The table of an undisturbed sweep (computed once)."""
    out = work / "reference"
    if not (out / "results.json").is_file():
        import subprocess

        subprocess.run(_encode(_features(work / "features"), out), check=True, stdout=subprocess.DEVNULL)
    return _rows(out)


def _check_after_rerun(work: Path, out: Path) -> list[str]:
    """Rerun to completion and compare with the undisturbed run: what is missing or different,
    and whether every reconstruction is intact."""
    import subprocess

    from fcbench.codecs import FeatureSet

    done = subprocess.run(_encode(work / "features", out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        return [f"rerun failed: {done.stderr.decode().strip().splitlines()[-1:]}"]
    losses = []
    want, got = _reference(work), _rows(out)
    losses += [f"row {k} missing" for k in want if k not in got]
    losses += [f"row {k} differs: {got[k]} != {want[k]}" for k in want if k in got and got[k] != want[k]]
    for recon in sorted((out / "recon").glob("*/*")):
        losses += [f"{recon.name}: {p}" for p in FeatureSet.open(recon).verify()]
    return losses


def _sweep_case(signum: int, work: Path, rng: random.Random) -> Outcome:
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    features = _features(work / "features")
    # From the moment the sweep has started (its folder exists) to about when it ends.
    outcome = signal_at_random(_encode(features, out), signum, (0.0, 5.0), rng, ready=out.exists)
    if signum == signal.SIGTERM and outcome.mid_run and outcome.exit_code != 128 + signal.SIGTERM:
        outcome.losses.append(f"exit code {outcome.exit_code} after SIGTERM, not {128 + signal.SIGTERM}")
    if signum == signal.SIGTERM and outcome.mid_run and outcome.exit_code == 128 + signal.SIGTERM:
        kept = len(_rows(out)) if (out / "results.json").is_file() else 0
        recorded = sum(len(json.loads(m.read_text())["samples"]) for m in (out / "recon").glob("*/*/manifest.json"))
        if kept != recorded:
            outcome.losses.append(f"table kept {kept} rows, the reconstructions record {recorded}")
    outcome.losses += _check_after_rerun(work, out)
    # A process killed inside an atomic write leaves its temp file (a hidden .tmp beside the
    # target, never read): counted apart, it loses nothing.
    outcome.litter = [str(p) for p in out.rglob(".*.tmp")]
    return outcome


@case("sweep-kill9")
def sweep_kill9(work: Path, rng: random.Random) -> Outcome:
    return _sweep_case(signal.SIGKILL, work, rng)


@case("sweep-sigterm")
def sweep_sigterm(work: Path, rng: random.Random) -> Outcome:
    return _sweep_case(signal.SIGTERM, work, rng)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="default: every case")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, help="working folder (default: a temp folder, removed)")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="fcbench-faults-"))
    rng = random.Random(args.seed)
    print(f"fault injection, {args.runs} runs per case; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    failed = False
    try:
        for name in args.case or sorted(CASES):
            outcomes = [CASES[name](work, rng) for _ in range(args.runs)]
            print(summary_table(name, outcomes), flush=True)
            failed |= any(o.leftovers or o.losses for o in outcomes)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
