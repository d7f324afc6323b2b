"""Throughput of the coding pre/post-processing on a dpt-sized tensor (2x4x1611x1536 f32).

Forward: truncate + quantize (10-bit, per-layer ranges) + pack. Inverse: unpack + dequantize.
Target: >= 500 MB/s of float32 feature on one core. Prints MB/s (MB = 1e6 bytes of f32 input).
Also times nonlinear point fitting on 10 samples of 20M points (subsampled).
"""
from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says

import numpy as np

from fcbench.codecs import dequantize, fit_points, pack, quantize, truncate, unpack

LOW, HIGH = [-1.0, -2.0, -10.0, -20.0], [1.0, 2.0, 10.0, 20.0]
SHAPE = (2, 4, 1611, 1536)


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    x = (np.random.default_rng(0).standard_normal(SHAPE, dtype=np.float32) * 5)
    mb = x.nbytes / 1e6
    def fwd():
        return pack(quantize(truncate(x, LOW, HIGH), LOW, HIGH, 10), "dinov2")
    frame = fwd()
    def inv():
        return dequantize(unpack(frame, SHAPE, "dinov2"), LOW, HIGH, 10)
    t_fwd, t_inv = best_of(fwd), best_of(inv)
    print(f"tensor {SHAPE} float32 = {mb:.1f} MB")
    print(f"truncate+quantize+pack : {t_fwd * 1e3:7.1f} ms  {mb / t_fwd:7.0f} MB/s  (target >= 500)")
    print(f"unpack+dequantize      : {t_inv * 1e3:7.1f} ms  {mb / t_inv:7.0f} MB/s  (target >= 500)")
    samples = [np.random.default_rng(i).laplace(size=(1, 1, 4000, 5000)).astype(np.float32) for i in range(10)]
    t0 = time.perf_counter()
    fit_points(samples, 10, method="kmeans")
    print(f"k-means fit, 10 x 20M points, 1024 levels: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
