"""A parallel sweep's main process does not grow with the set: a finished job's reconstruction
is written and let go, not kept until the end (#24 item 6; benchmarks/fault_injection.py
--case sweep-memory measures it on the command line)."""
from __future__ import annotations

import tracemalloc

import numpy as np

from fcbench.codecs import FeatureSet
from fcbench.codecs.chain.fidelity import mean_squared_difference
from fcbench.codecs.sweeps.run import run_sweep

SAMPLE_MB = 2


def test_the_main_process_of_a_parallel_sweep_holds_few_reconstructions(tmp_path):
    rng = np.random.default_rng(0)
    count = 16
    with FeatureSet.create(tmp_path / "set", "llama3", "csr", "synthetic") as fs:
        for i in range(count):
            fs.write(f"s{i}", rng.standard_normal((1, 1, 512, 1024)).astype(np.float32))
    tracemalloc.start()
    try:
        result = run_sweep(tmp_path / "set", "bypass", {}, [0], {"low": -5, "high": 5, "layout": "generic"},
                           tmp_path / "out", jobs=2, progress=False)
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert len(result.rows) == count
    # every reconstruction kept would be count x 2 MB; a few in flight are all it may hold
    assert peak_mb < count * SAMPLE_MB / 3, f"main process peaked at {peak_mb:.1f} MB for a {count * SAMPLE_MB} MB set"


def test_the_mse_of_a_large_sample_is_taken_a_step_at_a_time():
    rng = np.random.default_rng(1)
    a = rng.standard_normal(3_000_001).astype(np.float32)
    b = a + rng.normal(scale=0.1, size=a.size).astype(np.float32)
    exact = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    assert abs(mean_squared_difference(a, b) - exact) <= 1e-12 * exact
    small = a[:1000], b[:1000]  # one step: the same sum as np.mean, to the last bit
    assert mean_squared_difference(*small) == float(np.mean((small[0].astype(np.float64) - small[1].astype(np.float64)) ** 2))
    tracemalloc.start()
    try:
        mean_squared_difference(a, b)
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak_mb < 40  # steps of 1 Mi points (float64 temporaries), not 3 M-point copies (~72 MB each pair)
