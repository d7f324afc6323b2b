"""Benchmark: the klt codec against the paper's chain with x265 and AV1, and against VTM where its
measured rows are at hand, on real transformer features and on the synthetic sets.

    .venv/bin/python benchmarks/klt_rd.py \\
        --real post=minilm_l2_post_coco100.npy --real residual=minilm_l2_residual_coco100.npy
    .venv/bin/python benchmarks/klt_rd.py --real l6post=minilm_l6_post_coco100.npy   # other layers, texts
    .venv/bin/python benchmarks/klt_rd.py --quick                                  # synthetic, small

(make the MiniLM features with benchmarks/make_real_features.py; `--layer` and `--texts arc` give
layers and texts the codec was not tuned on.) Each feature is (1, 1, tokens, channels), coded as
Llama-style features; the klt table is fitted on the first --train-fraction of the tokens (0.5:
852 of the shared files' 1703) and the rest is coded, so nothing is fitted on what is measured.
The frame codecs code the same tokens through the paper's chain (truncation to --range, 10-bit
uniform quantization, llama3 packing), without and with the outlier side channel.

PSNR is against the ORIGINAL feature, peak = high - low of --range (10: as the VTM anchor file
states it); rates are BPFP from the real bytes. BD-rates (PCHIP on log-rate over the PSNR
overlap) of klt against each curve; where the curves do not overlap, the cheapest klt point at a
PSNR at least as high as the other's best. VTM: --vtm-anchor holds VTM 23.13's measured rows on
exactly these test tokens (benchmarks/data/vtm23_minilm_anchor.json, for the two shared MiniLM
files, matched by file name). Speed: CPU seconds per million feature points, encode and decode.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

from fcbench.codecs import FeatureSet, container_rate, get_codec
from fcbench.codecs.features.synthetic import KINDS
from fcbench.codecs.klt.fit import fit_table
from fcbench.codecs.registry import codec_class
from fcbench.components.bdrate import bd_compare, monotone_curve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rd_real_features import FeaturePair, real_pair, synthetic_pair  # noqa: E402  (the same feature pairs)

QPS = [17, 22, 27, 32, 37, 42, 47]
ANCHOR = Path(__file__).resolve().parent / "data" / "vtm23_minilm_anchor.json"


def curve(codec, x: np.ndarray, rate_points: list, conditions: dict, peak: float) -> list[dict]:
    """Rate, PSNR and CPU seconds of `codec` on `x` at every rate point."""
    points = []
    for rp in rate_points:
        t0 = time.process_time()
        data = codec.encode(x, rp, **conditions)
        t1 = time.process_time()
        rec = codec.decode(data).astype(np.float64)
        t2 = time.process_time()
        mse = float(np.mean((rec - x.astype(np.float64)) ** 2))
        points.append({"rate_point": rp, "bpfp": container_rate(data, codec=codec).bpfp, "mse": mse,
                       "psnr": math.inf if mse == 0 else 10 * math.log10(peak * peak / mse),
                       "enc_s": t1 - t0, "dec_s": t2 - t1})
    return points


def klt_curve(pair: FeaturePair, low_high: tuple[float, float], peak: float, work: Path) -> tuple[list[dict], dict]:
    train = FeatureSet.create(work / f"{pair.name}-train", "features", pair.name, "benchmark")
    train.write("train", pair.train)
    _, path, _ = fit_table(train, work / f"{pair.name}.npz", layout="llama3", low_high=low_high)
    codec = get_codec("klt", table=str(path))
    return curve(codec, pair.test, QPS, {"layout": "llama3"}, peak), codec.identity["options"]["table"]


def frame_curves(pair: FeaturePair, codecs: list[str], low_high: tuple[float, float], peak: float) -> dict[str, list]:
    out = {}
    for name in codecs:
        codec = get_codec(name)
        rps = codec_class(name).rate_points_for_qps(QPS)
        fixed = {"layout": "llama3", "bit_depth": 10, "low": low_high[0], "high": low_high[1]}
        out[name] = curve(codec, pair.test, rps, fixed, peak)
        out[f"{name}+side"] = curve(codec, pair.test, rps, {**fixed, "outliers": True}, peak)
    return out


def vtm_rows(anchor: Optional[Path], source: str) -> Optional[list[dict]]:
    """VTM's measured rows for the file of `source` (its name), if the anchor file has them."""
    if anchor is None or not anchor.is_file():
        return None
    for entry in json.loads(anchor.read_text())["sets"].values():
        if entry["file"] in source:
            return [{"rate_point": r["qp"], "bpfp": r["bpfp"], "psnr": r["psnr_peak10"]} for r in entry["rows"]]
    return None


def compare(klt: list[dict], other: list[dict], name: str) -> dict:
    a = monotone_curve([p["bpfp"] for p in other], [p["psnr"] for p in other], "higher")
    t = monotone_curve([p["bpfp"] for p in klt], [p["psnr"] for p in klt], "higher")
    bd = bd_compare(a, t, "higher", label="klt", anchor_name=name, metric="PSNR")
    best = max(other, key=lambda p: p["psnr"])
    better = [p for p in klt if p["psnr"] >= best["psnr"]]
    cheapest = min(better, key=lambda p: p["bpfp"]) if better else None
    return {"against": name, "bd_rate_pct": bd.bd_rate, "overlap": bd.overlap_fraction,
            "best_psnr": best["psnr"], "best_bpfp": best["bpfp"],
            "klt_bpfp_there": None if cheapest is None else cheapest["bpfp"]}


def speed(points: list[dict], size: int) -> tuple[float, float]:
    mp = size / 1e6 * len(points)
    return sum(p["enc_s"] for p in points) / mp, sum(p["dec_s"] for p in points) / mp


def report(name: str, curves: dict[str, list], size: int, table: dict) -> list[dict]:
    klt = curves["klt"]
    print(f"\n{name}: klt table {table['components']} components x {table['groups']} group(s), "
          f"{table['bytes'] / 1024:.0f} KiB, sha256 {table['sha256'][:12]}...")
    for label, points in curves.items():
        print(f"  {label:10s} " + "  ".join(f"{p['bpfp']:.3f}/{p['psnr']:.1f}" for p in points))
    rows = [compare(klt, points, label) for label, points in curves.items() if label != "klt"]
    print(f"  {'klt vs':10s} {'BD-rate':>9s} {'overlap':>8s}  at the other's best PSNR")
    for r in rows:
        bd = "n/a" if r["bd_rate_pct"] is None else f"{r['bd_rate_pct']:+.1f} %"
        there = ("never reaches it" if r["klt_bpfp_there"] is None else
                 f"{r['best_psnr']:.2f} dB: {r['best_bpfp']:.4f} -> {r['klt_bpfp_there']:.4f} bpfp")
        print(f"  {r['against']:10s} {bd:>9s} {r['overlap']:8.2f}  {there}")
    for label in ("klt", "x265"):
        if label in curves and "enc_s" in curves[label][0]:
            enc, dec = speed(curves[label], size)
            print(f"  {label:10s} CPU s per million points: encode {enc:.3f}, decode {dec:.3f}")
    return rows


def klt_comparisons(pairs: list[FeaturePair], codecs: list[str], low_high: tuple[float, float],
                    vtm_anchor: Optional[Path]) -> dict[str, dict]:
    """Per feature pair: klt fitted on its training tokens, the frame codecs' paper chain with and
    without the side channel, VTM's recorded rows where the anchor file has the pair's file; the
    curves, the table's summary and klt's comparisons (printed). PSNR peak = high - low, as the
    VTM anchor file states its PSNR."""
    peak = low_high[1] - low_high[0]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pair in pairs:
            klt, table = klt_curve(pair, low_high, peak, Path(tmp))
            curves = {"klt": klt, **frame_curves(pair, codecs, low_high, peak)}
            vtm = vtm_rows(vtm_anchor, pair.source)
            if vtm is not None:
                curves["vtm"] = vtm
            results[pair.name] = {"source": pair.source, "curves": curves, "table": table,
                                  "comparisons": report(pair.name, curves, pair.test.size, table)}
    return results


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", action="append", default=[], metavar="NAME=TEST.npy[,TRAIN.npy]")
    p.add_argument("--synthetic", nargs="*", choices=KINDS, default=None)
    p.add_argument("--tokens", type=int, default=1703, help="tokens of a synthetic set (half fit, half coded)")
    p.add_argument("--channels", type=int, default=384)
    p.add_argument("--codecs", nargs="+", default=["x265", "av1"], help="frame codecs to compare with")
    p.add_argument("--range", nargs=2, type=float, default=(-5.0, 5.0), metavar=("LOW", "HIGH"))
    p.add_argument("--train-fraction", type=float, default=0.5)
    p.add_argument("--vtm-anchor", type=Path, default=ANCHOR, help="VTM rows measured on the same test tokens")
    p.add_argument("--quick", action="store_true", help="synthetic only, 512 tokens, x265 only")
    p.add_argument("--json", type=Path, help="also write every curve and comparison here")
    args = p.parse_args(argv)
    if args.quick:
        args.real, args.tokens, args.codecs = [], 512, ["x265"]
    pairs = [real_pair(s, args.train_fraction) for s in args.real]
    kinds = args.synthetic if args.synthetic is not None else ([] if pairs else list(KINDS))
    pairs += [synthetic_pair(k, args.tokens // 2, args.channels) for k in kinds]
    results = klt_comparisons(pairs, args.codecs, (float(args.range[0]), float(args.range[1])), args.vtm_anchor)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
