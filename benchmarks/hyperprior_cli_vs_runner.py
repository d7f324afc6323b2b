"""Does a hyperprior speed figure mean the same from the command line and from a pipeline task?

    .venv/bin/python benchmarks/hyperprior_cli_vs_runner.py [--samples 24] [--rows 64 --cols 256]

Trains one small hyperprior (N=16, M=24, a few steps: speed, not quality, is measured), then codes
the same features with it twice, each in a fresh process:
  cli     `fcbench encode --codec hyperprior` with the shell's environment (the thread policy of
          fcbench.codecs.common.cpus: jobs x threads <= CPUs);
  runner  the hyperprior_infer stage's function, in the environment the kfp local runner gives
          its tasks (pipelines/local.py task_variables: one sweep worker, its thread share).
Prints the mean encode and decode CPU seconds per sample of each, the thread split each recorded
in results.json, and their ratio (the goal: within 2x; it was 27x before the thread policy).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RUNNER = """
import json, sys
from fcbench.components.stages.hyperprior_infer import infer
features, checkpoint, out = sys.argv[1:4]
conditions = json.dumps({"low": -4.0, "high": 4.0, "layout": "generic"})
infer(features, checkpoint, 0.01, conditions, "cpu", out + "/recon", out + "/bits", out + "/results.json")
"""


def _features(root: Path, samples: int, rows: int, cols: int) -> Path:
    from fcbench.codecs import FeatureSet

    rng = np.random.default_rng(0)
    with FeatureSet.create(root, "dinov2", "cls", "synthetic") as fs:
        for i in range(samples):
            smooth = np.cumsum(rng.normal(size=(1, 1, rows, cols)), axis=3) / np.sqrt(cols)
            fs.write(f"s{i}", smooth.astype(np.float32))
    return root


def _timing(results: Path) -> dict:
    doc = json.loads(results.read_text())
    summary = doc["summary"][0]
    return {"enc_s": summary["enc_s"], "dec_s": summary["dec_s"], "threads": doc.get("threads")}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=24)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--cols", type=int, default=256)
    args = ap.parse_args(argv)
    from fcbench.codecs.hyperprior import train
    from fcbench.pipelines.local import task_variables

    with tempfile.TemporaryDirectory(prefix="fcbench-hp-timing-") as tmp:
        work = Path(tmp)
        features = _features(work / "set", args.samples, args.rows, args.cols)
        trained = train(features, work / "model", 0.01, crop=(64, 64), steps=20, batch_size=4, N=16, M=24, lr=3e-3,
                        low=-4.0, high=4.0, layout="generic", plot=False, progress=False)
        checkpoint = str(trained.checkpoint)
        subprocess.run([sys.executable, "-m", "fcbench.pipelines.cli", "encode", "--features", str(features), "--codec",
                        "hyperprior", "--option", f"checkpoint={checkpoint}", "--rate-points", "0.01", "--low", "-4",
                        "--high", "4", "--layout", "generic", "--out", str(work / "cli"), "--no-progress"],
                       check=True, stdout=subprocess.DEVNULL)
        env = {**os.environ, **{s.name: value for s, value in task_variables().items()}}
        (work / "runner").mkdir()
        subprocess.run([sys.executable, "-c", RUNNER, str(features), checkpoint, str(work / "runner")], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cli, runner = _timing(work / "cli" / "results.json"), _timing(work / "runner" / "results.json")
    ratio = {k: max(cli[k], runner[k]) / min(cli[k], runner[k]) for k in ("enc_s", "dec_s")}
    report = {"samples": args.samples, "frame": [args.rows, args.cols], "cpus": os.cpu_count(), "cli": cli,
              "runner": runner, "slower_over_faster": ratio, "within_2x": all(r <= 2 for r in ratio.values())}
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
