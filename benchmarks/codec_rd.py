"""AV1 (SVT-AV1 presets) against x265 slow: BD-rate on feature PSNR and encode CPU seconds per
megapixel, on real transformer features (given by path) and on synthetic sets.

Run through `benchmarks/codec_sweep.py --rd` (see there); importable with benchmarks/ on
sys.path (as it is for every script in it):

    from codec_rd import rd_table, measure_codec, load_feature

Every feature is coded as the csr test conditions code Llama's hidden states: truncation to
[-5, 5], 10-bit uniform quantization, `llama3` packing (rows = tokens, columns = channels).
x265 slow codes the VTM QPs given (default 22..42); av1 codes the CRFs `rate_points_for_qps`
maps them to, so both curves cover a similar rate range. PSNR is measured on the quantized
frame (peak 1023) against the decoded one, BPFP is the paper's (the encoder's own bitstream).
BD-rate: PCHIP over the common PSNR range (fcbench.components.bdrate), negative = fewer bits
than x265 slow. CPU seconds are process time of the encode calls (this process only: SVT-AV1
and x265 run with one thread here, so that is the whole work).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from fcbench.codecs import container_rate, get_codec
from fcbench.codecs.protocol import Conditions
from fcbench.codecs.registry import codec_class
from fcbench.components.bdrate import bd_compare, monotone_curve

CSR: dict[str, Any] = dict(low=-5.0, high=5.0, layout="llama3", bit_depth=10)
QPS = (22, 27, 32, 37, 42)


@dataclass
class CodecRun:
    label: str  # e.g. "x265 slow", "av1 p4"
    rate_points: list
    bpfp: list
    psnr: list
    cpu_s: list  # encode CPU seconds per rate point
    megapixels: float

    @property
    def cpu_s_per_megapixel(self) -> float:
        return float(np.mean(self.cpu_s)) / self.megapixels


def load_feature(path: str | Path) -> np.ndarray:
    """A (1, 1, tokens, channels) float feature from a .npy file, checked."""
    x = np.load(path, allow_pickle=False)
    if x.ndim == 2:
        x = x[None, None]
    if x.ndim != 4 or x.shape[:2] != (1, 1) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{path}: expected a float (1, 1, tokens, channels) or (tokens, channels) array, "
                         f"got {x.dtype} {x.shape}")
    return x.astype(np.float32, copy=False)


def measure_codec(feature: np.ndarray, name: str, options: dict, rate_points: Sequence, label: str) -> CodecRun:
    codec = get_codec(name, **options)
    header, frame = codec.to_frame(feature, rate_points[0], Conditions(**CSR))
    run = CodecRun(label, list(rate_points), [], [], [], frame.size / 1e6)
    codec.encode(feature, rate_points[0], **CSR)  # warm-up: library initialisation is not coding
    for rp in rate_points:
        t0 = time.process_time()
        data = codec.encode(feature, rp, **CSR)
        run.cpu_s.append(time.process_time() - t0)
        _, decoded = codec.decode_to_frame(data)
        mse = float(np.mean((decoded.astype(np.float64) - frame) ** 2))
        run.bpfp.append(container_rate(data, codec=codec).bpfp)
        run.psnr.append(math.inf if mse == 0 else 10 * math.log10(1023.0**2 / mse))
        print(f"    {label:10s} {codec.rate_unit} {rp:3d}: bpfp {run.bpfp[-1]:7.4f}  PSNR {run.psnr[-1]:6.2f} dB  "
              f"{run.cpu_s[-1]:6.2f} CPU s", flush=True)
    return run


def bd_rate(anchor: CodecRun, test: CodecRun) -> tuple[Optional[float], tuple]:
    a = monotone_curve(anchor.bpfp, anchor.psnr, "higher")
    t = monotone_curve(test.bpfp, test.psnr, "higher")
    result = bd_compare(a, t, "higher", label=test.label, anchor_name=anchor.label, metric="PSNR")
    return result.bd_rate, result.flags


def rd_table(features: dict[str, np.ndarray], presets: Sequence[int], qps: Sequence[int] = QPS) -> list[dict]:
    """Per feature: x265 slow, then av1 at each preset -> rows with BD-rate vs x265 slow and CPU s/MP."""
    crfs = codec_class("av1").rate_points_for_qps(qps)
    rows = []
    for name, x in features.items():
        print(f"{name}: {x.shape}, QPs {list(qps)} -> av1 CRFs {crfs}", flush=True)
        anchor = measure_codec(x, "x265", {"preset": "slow"}, list(qps), "x265 slow")
        rows.append({"feature": name, "codec": anchor.label, "bd_rate": 0.0,
                     "cpu_s_per_mp": anchor.cpu_s_per_megapixel, "flags": ()})
        for preset in presets:
            run = measure_codec(x, "av1", {"preset": preset}, crfs, f"av1 p{preset}")
            bd, flags = bd_rate(anchor, run)
            rows.append({"feature": name, "codec": run.label, "bd_rate": bd,
                         "cpu_s_per_mp": run.cpu_s_per_megapixel, "flags": flags})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| feature | codec | BD-rate vs x265 slow (%) | encode CPU s / MP | flags |", "|---|---|---|---|---|"]
    for r in rows:
        bd = "anchor" if r["codec"] == "x265 slow" else ("n/a" if r["bd_rate"] is None else f"{r['bd_rate']:+.1f}")
        lines.append(f"| {r['feature']} | {r['codec']} | {bd} | {r['cpu_s_per_mp']:.2f} | {'; '.join(r['flags'])} |")
    return "\n".join(lines)
