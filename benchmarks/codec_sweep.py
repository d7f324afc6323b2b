"""Benchmark: serial vs parallel wall time of an x265 sweep, and encode seconds per megapixel;
with --rd, AV1 (SVT-AV1 presets) against x265 slow: BD-rate and CPU seconds per megapixel.

    .venv/bin/python benchmarks/codec_sweep.py                # 8 cls-sized frames x 5 QPs
    .venv/bin/python benchmarks/codec_sweep.py --frames 2 --qps 22 32 --codecs x265 bypass av1
    .venv/bin/python benchmarks/codec_sweep.py --rd --presets 2 3 4 5 6 7 8 \
        --features post=minilm_l2_post_coco100.npy residual=minilm_l2_residual_coco100.npy

--rd codes every feature given (NAME=PATH of a .npy, e.g. the MiniLM hidden states that
benchmarks/make_real_features.py makes) and the synthetic sets (--synthetic, default: the cls-like
frame below and fcbench.codecs.features.synthetic's "massive" and "student" token features); see
benchmarks/codec_rd.py for what is measured.

A cls feature (1, 1, 257, 1536) packs to one 257x1536 frame (0.39 megapixel). The features are
synthetic (smooth fields, noise, heavy-tailed outliers), so the figures measure speed, not RD.
Parallel efficiency = (sum of job seconds / jobs) / parallel wall time; 1.0 is perfect.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import numpy as np

from fcbench.codecs import FeatureSet, container_rate, get_codec
from fcbench.codecs.sweeps.run import default_jobs, run_sweep

SHAPE = (1, 1, 257, 1536)
COND = dict(low=-20.0, high=20.0, layout="dinov2", bit_depth=10)


def synthetic_feature(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    _, _, h, w = SHAPE
    rows = np.linspace(0, 1, h)[:, None]
    cols = np.linspace(0, 1, w)[None, :]
    x = 3 * np.sin(2 * np.pi * (rng.uniform(1, 8) * cols + rng.uniform())) * np.cos(2 * np.pi * rng.uniform(1, 4) * rows)
    x = x + rng.standard_t(3, size=(h, w)) * 0.8
    x[:, rng.choice(w, 8, replace=False)] *= 20  # a few outlier channels, as in ViT features
    return x.reshape(SHAPE).astype(np.float32)


def make_features(root: Path, frames: int) -> FeatureSet:
    with FeatureSet.create(root, model="dinov2", task="cls", split_point="synthetic") as fs:
        for i in range(frames):
            fs.write(f"frame{i:02d}", synthetic_feature(i))
    return fs


def sweep_timing(fs: FeatureSet, work: Path, qps: list[int], preset: str, jobs: int) -> dict:
    serial = run_sweep(fs, "x265", {"preset": preset}, qps, COND, work / "serial", jobs=1, progress=False)
    parallel = run_sweep(fs, "x265", {"preset": preset}, qps, COND, work / "parallel", jobs=jobs, progress=False)
    ideal = parallel.job_seconds / jobs
    return {"jobs": len(serial.rows), "workers": jobs, "serial_wall_s": serial.wall_s,
            "serial_job_s": serial.job_seconds, "parallel_wall_s": parallel.wall_s,
            "parallel_job_s": parallel.job_seconds, "ideal_parallel_s": ideal,
            "speedup": serial.wall_s / parallel.wall_s, "efficiency": ideal / parallel.wall_s}


def encode_speed(codec_name: str, options: dict, rate_point: int, feature: np.ndarray, repeats: int) -> dict:
    codec = get_codec(codec_name, **options)
    megapixels = feature.size / 1e6
    codec.encode(feature, rate_point, **COND)  # warm-up (library init)
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        data = codec.encode(feature, rate_point, **COND)
        times.append(time.process_time() - t0)
    return {"codec": codec_name, "options": options, "rate_point": rate_point,
            "cpu_s_per_megapixel": min(times) / megapixels, "bpfp": container_rate(data, codec=codec).bpfp}


def rd_features(specs: list[str], synthetic: list[str]) -> dict[str, np.ndarray]:
    from codec_rd import load_feature

    from fcbench.codecs.features.synthetic import Kind, heavy_tailed

    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            raise SystemExit(f"--features takes NAME=PATH, got {spec!r}")
        out[name] = load_feature(path)
    for kind in synthetic:
        # cls: the sweep's ViT-like frame seen as tokens x channels; others: 1703 tokens x 384 like MiniLM
        out[f"synthetic {kind}"] = (synthetic_feature(0).reshape(1, 1, SHAPE[2], SHAPE[3]) if kind == "cls"
                                    else heavy_tailed(cast(Kind, kind), tokens=1703, channels=384, seed=7))
    return out


def run_rd(args: argparse.Namespace) -> int:
    from codec_rd import markdown, rd_table

    rows = rd_table(rd_features(args.features, args.synthetic), args.presets, args.qps)
    print("\n" + markdown(rows))
    if args.json:
        args.json.write_text(json.dumps({"rd": rows}, indent=2, default=list) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--qps", type=int, nargs="+", default=[22, 27, 32, 37, 42])
    p.add_argument("--preset", default="slow")
    p.add_argument("-j", "--jobs", type=int, default=default_jobs())
    p.add_argument("--codecs", nargs="+", default=["x265", "av1", "bypass", "lossless", "vtm", "vvenc"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--rd", action="store_true", help="AV1 presets vs x265 slow: BD-rate and CPU s/MP")
    p.add_argument("--features", nargs="*", default=[], metavar="NAME=PATH", help="--rd: real features (.npy)")
    p.add_argument("--synthetic", nargs="*", default=["cls", "massive", "student"], help="--rd: synthetic sets")
    p.add_argument("--presets", type=int, nargs="+", default=[2, 3, 4, 5, 6, 7, 8], help="--rd: SVT-AV1 presets")
    args = p.parse_args(argv)
    if args.rd:
        return run_rd(args)

    figures: dict = {"frame": f"{SHAPE[2]}x{SHAPE[3]} (cls)"}
    with tempfile.TemporaryDirectory(prefix="fcbench-bench-") as tmp:
        fs = make_features(Path(tmp) / "features", args.frames)
        t = sweep_timing(fs, Path(tmp), args.qps, args.preset, args.jobs)
        figures["sweep"] = t
        print(f"x265 ({args.preset}) sweep: {args.frames} frames x {len(args.qps)} QPs = {t['jobs']} jobs, "
              f"{t['workers']} workers")
        print(f"  serial   wall {t['serial_wall_s']:8.2f} s (job seconds {t['serial_job_s']:.2f})")
        print(f"  parallel wall {t['parallel_wall_s']:8.2f} s (job seconds {t['parallel_job_s']:.2f}, "
              f"ideal {t['ideal_parallel_s']:.2f} s)  speedup {t['speedup']:.2f}x, efficiency {t['efficiency']:.0%}")
        feature = synthetic_feature(0)
        speeds = []
        cases: dict[str, list[tuple[dict, int]]] = {"x265": [({"preset": pr}, 32) for pr in ("ultrafast", "medium", "slow")],
                 "av1": [({"preset": pr}, 33) for pr in (8, 4)],
                 "bypass": [({}, 0)], "lossless": [({}, 0)], "vtm": [({}, 32)], "vvenc": [({"preset": "faster"}, 32)]}
        print("encode CPU seconds per megapixel (one 257x1536 frame, best of repeats):")
        for name in args.codecs:
            for options, rp in cases.get(name, [({}, 32)]):
                try:
                    s = encode_speed(name, options, rp, feature, 1 if name in ("vtm", "vvenc") else args.repeats)
                except (FileNotFoundError, OSError) as exc:
                    print(f"  {name:9s} skipped: {str(exc).splitlines()[0]}")
                    continue
                speeds.append(s)
                print(f"  {name:9s} {json.dumps(options):24s} rate point {rp:3d}: "
                      f"{s['cpu_s_per_megapixel']:9.3f} s/MP  ({s['bpfp']:.3f} bpfp)")
        figures["encode_speed"] = speeds
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
