"""Benchmark: the data flow of extract + encode on a 100-sample set, as the pipeline runs it.

    .venv/bin/python benchmarks/dataflow.py                 # 100 tiny DINOv2 cls images, x265 at QP 32
    .venv/bin/python benchmarks/dataflow.py --images 20 --manifest-samples 100 1000

Calls the component bodies the pipeline runs (extract_features, then encode_decode of one
codec task), each publishing to a local storage folder as with --storage-uri, on one sweep
worker (the local runner's setting). Prints wall and CPU seconds per stage and the cost of
writing a feature set of N small samples (the manifest bookkeeping alone), best of --repeat.
The tiny model's assets (random weights, generated images) are made first and not timed.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its reaped children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall s, CPU s) of one call."""
    w0, c0 = time.perf_counter(), cpu_seconds()
    fn()
    return time.perf_counter() - w0, cpu_seconds() - c0


def best(fn: Callable[[int], object], repeat: int) -> tuple[float, float]:
    """The fastest of `repeat` runs (wall, CPU); fn gets the run index (fresh output folders)."""
    runs = [timed(functools.partial(fn, i)) for i in range(repeat)]
    return min(runs)


def manifest_cost(root: Path, n: int) -> tuple[float, float]:
    """Write a feature set of n tiny samples: what the per-sample bookkeeping costs."""
    from fcbench.codecs.features.featureset import FeatureSet

    fs = FeatureSet.create(root, "dinov2", "cls", "synthetic")
    x = np.zeros((1, 1, 4, 4), np.float32)
    w0, c0 = time.perf_counter(), cpu_seconds()
    for i in range(n):
        fs.write(f"s{i:06d}", x)
    if hasattr(fs, "compact"):  # the journal folded into the manifest (older versions had no journal)
        fs.compact()
    return time.perf_counter() - w0, cpu_seconds() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--qp", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--manifest-samples", type=int, nargs="*", default=[100, 1000, 3000])
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temp folder, removed)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    os.environ["FCBENCH_SWEEP_JOBS"] = "1"  # one sweep worker per task, as the local runner sets it

    from fcbench.codecs import get_codec
    from fcbench.codecs.conditions import coding_conditions, load_conditions
    from fcbench.components.codec_identity import identity_hash
    from fcbench.components.stages.code_traditional import encode_decode
    from fcbench.components.stages.extract import extract_features
    from fcbench.machines.dinov2.tiny import make_assets

    work = args.work or Path(tempfile.mkdtemp(prefix="fcbench-dataflow-"))
    try:
        assets = make_assets(work / "assets", task="cls", n_images=args.images, seed=0)
        machine = ("dinov2", "cls", str(assets["weights"]), str(assets["data"]), str(assets["sample_list"]),
                   json.dumps(assets["options"]))
        store = work / "store"
        conditions = json.dumps(coding_conditions(load_conditions().get("dinov2", "cls"), "traditional"))
        x265 = identity_hash(get_codec("x265").identity)
        features = work / "features"

        def extract(i: int) -> None:
            shutil.rmtree(features, ignore_errors=True)
            shutil.rmtree(store, ignore_errors=True)
            extract_features(*machine, str(features), storage_uri=str(store))

        def encode(i: int) -> None:
            out = work / f"encode{i}"
            shutil.rmtree(out, ignore_errors=True)
            encode_decode(str(features), "x265", {}, x265, float(args.qp), conditions, str(out / "recon"),
                          str(out / "bitstreams"), str(out / "results.json"), "dinov2", "cls", str(store))

        rows = {"extract (+publish)": best(extract, args.repeat), "encode x265 (+publish)": best(encode, args.repeat)}
        manifest = {n: manifest_cost(work / f"manifest{n}", n) for n in args.manifest_samples}
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()
    if args.json:
        print(json.dumps({"images": args.images, "qp": args.qp, "stages": rows,
                          "manifest": {str(n): v for n, v in manifest.items()}, "load": load}))
        return 0
    print(f"extract + encode of {args.images} tiny DINOv2 cls samples (x265 QP {args.qp}, one worker), "
          f"best of {args.repeat}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(f"{'stage':28s} {'wall s':>8s} {'CPU s':>8s}")
    for name, (wall, cpu) in rows.items():
        print(f"{name:28s} {wall:8.2f} {cpu:8.2f}")
    total = [sum(v[i] for v in rows.values()) for i in (0, 1)]
    print(f"{'total':28s} {total[0]:8.2f} {total[1]:8.2f}")
    print("\nwriting a feature set of N tiny samples (the per-sample bookkeeping)")
    print(f"{'N':>8s} {'wall s':>8s} {'CPU s':>8s} {'ms/sample':>10s}")
    for n, (wall, cpu) in manifest.items():
        print(f"{n:8d} {wall:8.2f} {cpu:8.2f} {1000 * wall / n:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
