"""Tracking and report cost: seconds per logged RD point (child run), per offline journal entry,
per uploaded point, and to build a report (tables, BD-rate, PNG plots).

    .venv/bin/python benchmarks/tracking.py                          # local sqlite store in a temp dir
    .venv/bin/python benchmarks/tracking.py --mlflow http://127.0.0.1:5000 --points 100

A pipeline run logs one child run per (codec, rate point): ~5 codecs x 5-6 rate points per
task, so a few seconds of logging per run is the budget these figures are compared against.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from fcbench.components.reporting import RDPoint, build_report
from fcbench.components.tracking import Tracker, upload_offline

CODECS = ("vtm", "vvenc", "x265", "hyperprior", "bypass")


def synthetic_points(n: int, model: str) -> list[RDPoint]:
    per = max(2, n // len(CODECS))
    out = []
    for c, codec in enumerate(CODECS):
        rates = 0.05 * 2.0 ** np.arange(per) * (1 + 0.1 * c)
        for i, r in enumerate(rates):
            out.append(RDPoint(model=model, task="cls", label=codec, rate_point=22 + 5 * i, bpfp=float(r), ebpfp=float(r),
                               metric="top1", metric_value=float(60 + 5 * np.log2(r / 0.05)), direction="higher",
                               feature_mse=1e-3, enc_s=1.0, dec_s=0.1, params={"qp": 22 + 5 * i, "bit_depth": 10},
                               tags={"binary_sha256": "0" * 64, "cfg_sha256": "1" * 64}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mlflow", help="tracking URI (default: a local sqlite store in a temp dir)")
    ap.add_argument("--points", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        uri = args.mlflow or f"sqlite:///{tmp}/store/mlflow.db"
        model = f"bench{time.time_ns()}"
        pts = synthetic_points(args.points, model)

        t0 = time.perf_counter()
        tracker = Tracker(uri)
        t_init = time.perf_counter() - t0
        t0 = time.perf_counter()
        with tracker.start_pipeline_run(model, "cls"):
            for p in pts:
                tracker.log_point(p)
            t_log = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = build_report(pts, Path(tmp) / "report")
            t_report = time.perf_counter() - t0
            t0 = time.perf_counter()
            tracker.log_report(report)
            t_log_report = time.perf_counter() - t0

        offline = Tracker(offline_dir=Path(tmp) / "journal")
        t0 = time.perf_counter()
        with offline.start_pipeline_run(model + "-offline", "cls"):
            for p in pts:
                offline.log_point(RDPoint.from_dict({**p.as_dict(), "model": model + "-offline"}))
        t_journal = time.perf_counter() - t0
        t0 = time.perf_counter()
        upload_offline(Path(tmp) / "journal", uri)
        t_upload = time.perf_counter() - t0

    n = len(pts)
    print(f"tracking URI: {'given' if args.mlflow else 'local sqlite (temp)'}; {n} RD points, {len(CODECS)} codecs")
    print(f"tracker start (probe, store init): {t_init:8.2f} s")
    print(f"log_point (child run):             {1000 * t_log / n:8.1f} ms/point")
    print(f"build_report (md, csv, BD, png):   {t_report:8.2f} s")
    print(f"log_report (artifacts, metrics):   {t_log_report:8.2f} s")
    print(f"offline journal:                   {1000 * t_journal / n:8.1f} ms/point")
    print(f"upload_offline:                    {1000 * t_upload / n:8.1f} ms/point")


if __name__ == "__main__":
    main()
