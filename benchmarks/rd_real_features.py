"""Benchmark: rate-distortion of the coding chains on heavy-tailed features, against the ORIGINAL.

    .venv/bin/python benchmarks/rd_real_features.py \
        --real residual=minilm_l2_residual_coco100.npy --real post=minilm_l2_post_coco100.npy
    .venv/bin/python benchmarks/rd_real_features.py --synthetic massive student --codecs x265 av1
    .venv/bin/python benchmarks/rd_real_features.py --quick          # synthetic, 3 QPs, small

Chains (the same frame codec, the same rate points; --chains picks some):
    reference     the paper's chain: truncate to [low, high] (--range, default [-5, 5], the csr
                  conditions), 10-bit uniform quantization, llama3 packing
    +side         the reference + the outlier side channel (values outside the range sent apart,
                  10-bit precise; the frame gets the channel median at their positions)
    +side/clip    the same, but the frame keeps the truncated value there (outlier_fill=clip)
    +side/6bit    the side channel with 6-bit outlier values (outlier_bits=6)
    fitted        per-channel ranges fitted on training features (quantiles, --tail)
    fitted+side   the fitted ranges + the outlier side channel

Each feature is one (1, 1, tokens, channels) tensor (`.npy`, or `name=test.npy,train.npy`).
Without a training file the first --train-fraction of the tokens fit the ranges and the rest is
coded, so nothing is fitted on what is measured. Synthetic sets (fcbench.codecs.features.synthetic) use
different seeds for training and test.

With --klt (the default) each feature is also coded by the klt codec, its table fitted on the
same training tokens, and compared with the frame codecs' reference and +side chains and with VTM
where --vtm-anchor holds VTM's recorded rows for that file (benchmarks/klt_rd.py's comparison, PSNR
peak = HIGH - LOW there, as the anchor file states it); --no-klt leaves it out.

Distortion is PSNR against the original feature, peak = max - min of the coded tensor. Rates
are the paper's BPFP (codec bitstream + side channel); the container column (header, ranges
table, CRC) is printed apart. The summary gives, per chain, BD-rate against the reference with
the same codec where the PSNR ranges overlap, the PSNR gain at equal BPFP (BD-PSNR) where the
rate ranges overlap, and, when a chain's cheapest point already beats the reference's best, how
many fewer bits that point spends.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from fcbench.codecs import container_rate, get_codec
from fcbench.codecs.chain import fitted_ranges
from fcbench.codecs.features.synthetic import KINDS, Kind, heavy_tailed
from fcbench.codecs.registry import codec_class, codec_names
from fcbench.components.bdrate import bd_compare, monotone_curve

QPS = [22, 27, 32, 37, 42]  # the test conditions' VTM QPs; other rate units map them (AV1: CRFs)
CHAINS = ("reference", "+side", "+side/clip", "+side/6bit", "fitted", "fitted+side")


@dataclass
class FeaturePair:
    name: str
    test: np.ndarray
    train: np.ndarray
    source: str


@dataclass
class Point:
    chain: str
    codec: str
    rate_point: float
    bpfp: float
    side_bpfp: float
    container_bpfp: float
    mse: float
    psnr: float
    enc_s: float


@dataclass
class Result:
    feature: str
    source: str
    shape: tuple
    peak: float
    points: list = field(default_factory=list)
    summary: list = field(default_factory=list)


def _load(path: str) -> np.ndarray:
    x = np.load(path, allow_pickle=False)
    if x.ndim == 2:
        x = x[None, None]
    if x.ndim != 4 or x.shape[:2] != (1, 1):
        raise SystemExit(f"{path}: expected a (1, 1, tokens, channels) or (tokens, channels) tensor, got {x.shape}")
    return x.astype(np.float32)


def real_pair(spec: str, train_fraction: float) -> FeaturePair:
    name, sep, paths = spec.partition("=")
    if not sep:
        name, paths = Path(spec).stem, spec
    test_path, _, train_path = paths.partition(",")
    x = _load(test_path)
    if train_path:
        return FeaturePair(name, x, _load(train_path), f"{test_path} (ranges fitted on {train_path})")
    cut = int(round(x.shape[2] * train_fraction))
    if not 0 < cut < x.shape[2]:
        raise SystemExit(f"--train-fraction {train_fraction} leaves no training or no test tokens of {test_path}")
    return FeaturePair(name, x[:, :, cut:], x[:, :, :cut],
                       f"{test_path} tokens {cut}..{x.shape[2]} (ranges fitted on tokens 0..{cut})")


def synthetic_pair(kind: Kind, tokens: int, channels: int) -> FeaturePair:
    return FeaturePair(f"synthetic-{kind}", heavy_tailed(kind, tokens, channels, seed=2),
                       heavy_tailed(kind, tokens, channels, seed=1), f"fcbench.codecs.features.synthetic {kind} seeds 2 (test) / 1 (train)")


def chain_conditions(pair: FeaturePair, low: float, high: float, tail: float, names: list[str]) -> dict[str, dict]:
    fixed = {"layout": "llama3", "bit_depth": 10, "low": low, "high": high}
    table = {"layout": "llama3", "bit_depth": 10,
             **fitted_ranges.fit([pair.train], axis=3, tail=tail, source=pair.name).conditions()}
    side = {"outliers": True}
    every = {
        "reference": fixed,
        "+side": {**fixed, **side},
        "+side/clip": {**fixed, **side, "outlier_fill": "clip"},
        "+side/6bit": {**fixed, **side, "outlier_bits": 6},
        "fitted": table,
        "fitted+side": {**table, **side},
    }
    return {name: every[name] for name in names}


def measure(pair: FeaturePair, codec_name: str, options: dict, rate_points: list, chains: dict[str, dict],
            peak: float) -> list[Point]:
    codec = get_codec(codec_name, **options)
    x = pair.test
    out = []
    for chain, cond in chains.items():
        for rp in rate_points:
            t0 = time.perf_counter()
            data = codec.encode(x, rp, **cond)
            enc_s = time.perf_counter() - t0
            rec = codec.decode(data).astype(np.float64)
            rate = container_rate(data, codec=codec)
            mse = float(np.mean((rec - x) ** 2))
            psnr = math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)
            out.append(Point(chain, codec_name, rp, rate.bpfp, rate.side_bpfp, rate.container_bpfp, mse, psnr, enc_s))
            print(f"  {codec_name:6s} {chain:12s} {rp:>6}  bpfp {rate.bpfp:8.4f}  side {rate.side_bpfp:7.4f}  "
                  f"container {rate.container_bpfp:7.4f}  PSNR {psnr:6.2f} dB  ({enc_s:.1f} s)", flush=True)
    return out


def compare(points: list[Point], codec: str, chain: str, anchor: str) -> dict:
    ref = [p for p in points if p.codec == codec and p.chain == anchor]
    test = [p for p in points if p.codec == codec and p.chain == chain]
    a = monotone_curve([p.bpfp for p in ref], [p.psnr for p in ref], "higher")
    t = monotone_curve([p.bpfp for p in test], [p.psnr for p in test], "higher")
    bd = bd_compare(a, t, "higher", label=codec, anchor_name=anchor, metric="PSNR")
    best = max(ref, key=lambda p: p.psnr)
    beating = [p for p in test if p.psnr >= best.psnr]
    saving = None
    if beating:  # the cheapest point of the chain at least as good as the reference's best
        cheapest = min(beating, key=lambda p: p.bpfp)
        saving = {"reference_psnr": best.psnr, "reference_bpfp": best.bpfp, "chain_bpfp": cheapest.bpfp,
                  "chain_psnr": cheapest.psnr, "rate_change_pct": 100.0 * (cheapest.bpfp / best.bpfp - 1.0)}
    return {"codec": codec, "chain": chain, "anchor": anchor, "bd_rate_pct": bd.bd_rate, "bd_psnr_db": bd.bd_metric,
            "overlap_fraction": bd.overlap_fraction, "flags": list(bd.flags), "at_reference_best": saving}


def _num(v: Optional[float], fmt: str, unit: str) -> str:
    return "n/a" if v is None else format(v, fmt) + unit


def print_summary(result: Result) -> None:
    print(f"\n{result.feature}: {result.source}\n  shape {result.shape}, PSNR peak {result.peak:.4g}")
    print(f"  {'codec':6s} {'chain':12s} {'anchor':10s} {'BD-rate':>9s} {'BD-PSNR':>9s}  at the anchor's best PSNR")
    for s in result.summary:
        best = s["at_reference_best"]
        extra = ("never reaches it" if best is None else
                 f"{best['reference_psnr']:.2f} dB: {best['reference_bpfp']:.4f} -> {best['chain_bpfp']:.4f} bpfp "
                 f"({best['rate_change_pct']:+.1f} %)")
        print(f"  {s['codec']:6s} {s['chain']:12s} {s['anchor']:10s} {_num(s['bd_rate_pct'], '+.1f', ' %'):>9s} "
              f"{_num(s['bd_psnr_db'], '+.2f', ' dB'):>9s}  {extra}")
        for flag in s["flags"]:
            print(f"  {'':30s} note: {flag}")


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", action="append", default=[], metavar="NAME=TEST.npy[,TRAIN.npy]",
                   help="a real feature (1,1,tokens,channels); without TRAIN the first tokens fit the ranges")
    p.add_argument("--synthetic", nargs="*", choices=KINDS, default=None, help="synthetic sets (default: both "
                   "when no --real is given)")
    p.add_argument("--tokens", type=int, default=853, help="tokens of a synthetic set")
    p.add_argument("--channels", type=int, default=384, help="channels of a synthetic set")
    p.add_argument("--codecs", nargs="+", default=None, help="frame codecs (default: x265, plus av1 if registered)")
    p.add_argument("--rate-points", action="append", default=[], metavar="CODEC=R1,R2,...",
                   help="rate points of a codec (default: QPs 22,27,32,37,42 in the codec's unit; AV1: CRFs)")
    p.add_argument("--codec-option", action="append", default=[], metavar="CODEC:KEY=VALUE")
    p.add_argument("--range", nargs=2, type=float, default=(-5.0, 5.0), metavar=("LOW", "HIGH"),
                   help="the reference chain's truncation range")
    p.add_argument("--chains", nargs="+", choices=CHAINS, default=list(CHAINS),
                   help="chains to run (the reference is always run: it is the anchor)")
    p.add_argument("--tail", type=float, default=1e-4, help="quantile tail of the fitted ranges (per side)")
    p.add_argument("--train-fraction", type=float, default=0.5)
    p.add_argument("--quick", action="store_true", help="synthetic only, 256 tokens, 3 rate points")
    p.add_argument("--klt", action=argparse.BooleanOptionalAction, default=True,
                   help="also compare the klt codec (fitted on the training tokens) with the chains and VTM")
    p.add_argument("--vtm-anchor", type=Path, default=Path(__file__).resolve().parent / "data" / "vtm23_minilm_anchor.json",
                   help="VTM rows measured on the same test tokens (matched by file name)")
    p.add_argument("--json", type=Path, help="also write every point and the summary here")
    return p.parse_args(argv)


def codec_settings(args: argparse.Namespace) -> dict[str, tuple[dict, list]]:
    names = args.codecs or ["x265"] + [c for c in ("av1",) if c in codec_names()]
    rates: dict[str, list] = {}
    for spec in args.rate_points:
        name, _, values = spec.partition("=")
        rates[name] = [json.loads(v) for v in values.split(",") if v]
    options: dict[str, dict] = {n: {} for n in names}
    for spec in args.codec_option:
        name, _, kv = spec.partition(":")
        key, _, value = kv.partition("=")
        try:
            options.setdefault(name, {})[key] = json.loads(value)
        except json.JSONDecodeError:
            options.setdefault(name, {})[key] = value
    settings = {}
    for n in names:
        if n not in rates:
            try:
                rates[n] = codec_class(n).rate_points_for_qps(QPS)
            except ValueError as exc:
                raise SystemExit(f"{exc}: --rate-points {n}=R1,R2,...") from None
        pts = rates[n][::2] if args.quick else rates[n]
        settings[n] = (options.get(n, {}), pts)
    return settings


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.tokens, args.real = 256, []
    pairs = [real_pair(s, args.train_fraction) for s in args.real]
    kinds = args.synthetic if args.synthetic is not None else ([] if pairs else list(KINDS))
    pairs += [synthetic_pair(k, args.tokens, args.channels) for k in kinds]
    settings = codec_settings(args)
    results = []
    for pair in pairs:
        x = pair.test
        peak = float(x.max() - x.min())
        result = Result(pair.name, pair.source, tuple(x.shape), peak)
        print(f"\n== {pair.name}: test {x.shape}, train {pair.train.shape}, range {x.min():.4g}..{x.max():.4g}", flush=True)
        names = ["reference"] + [c for c in args.chains if c != "reference"]
        chains = chain_conditions(pair, args.range[0], args.range[1], args.tail, names)
        for codec, (options, rps) in settings.items():
            result.points += measure(pair, codec, options, rps, chains, peak)
            result.summary += [compare(result.points, codec, c, "reference") for c in names[1:]]
            if "+side" in names:  # the variants against the plain side channel
                result.summary += [compare(result.points, codec, c, "+side") for c in names[2:]]
        results.append(result)
    for result in results:
        print_summary(result)
    klt = {}
    if args.klt:
        from klt_rd import klt_comparisons  # imports this module's pairs: loaded here, not at the top

        print("\nklt against the chains and VTM (PSNR peak = HIGH - LOW; CPU seconds per million points):")
        klt = klt_comparisons(pairs, list(settings), (float(args.range[0]), float(args.range[1])), args.vtm_anchor)
    if args.json:
        args.json.write_text(json.dumps({"chains": [{**vars(r), "points": [vars(p) for p in r.points]} for r in results],
                                         "klt": klt}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
