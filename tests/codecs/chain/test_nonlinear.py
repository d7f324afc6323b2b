"""Nonlinear quantization: fitted point tables."""
import time

import numpy as np
import pytest

from fcbench.codecs import fit_points
from fcbench.codecs.chain import nonlinear


def peaky(seed=0, shape=(1, 4, 64, 64)):
    rng = np.random.default_rng(seed)
    x = rng.laplace(0, 0.5, size=shape).astype(np.float32)
    x[:, 1] *= 20  # an outlier channel, as in transformer activations
    return x


def test_density_points_equalise_the_cdf():
    x = peaky()
    pts = fit_points([x], bit_depth=4, method="density")
    counts = np.bincount(nonlinear.encode(x, pts, mode="legacy").ravel(), minlength=16)
    # digitize-1 bins between quantiles at (i+0.5)/16: inner bins hold 1/16 of the values each
    assert np.allclose(counts[1:-1] / x.size, 1 / 16, atol=0.01)


def test_kmeans_points_beat_uniform_on_peaky_data():
    x = peaky()
    pts = fit_points([x], bit_depth=4, method="kmeans")
    assert pts.shape == (1, 16) and np.all(np.diff(pts[0]) >= 0)
    rec = nonlinear.decode(nonlinear.encode(x, pts), pts)
    lo, hi = float(x.min()), float(x.max())
    step = (hi - lo) / 15
    uni = np.round((x - lo) / step) * step + lo
    assert np.mean((rec - x) ** 2) < np.mean((uni - x) ** 2)


def test_kmeans_beats_density_in_mse():
    x = peaky(1)
    mse = {}
    for m in ("kmeans", "density"):
        pts = fit_points([x], 3, method=m)
        mse[m] = float(np.mean((nonlinear.decode(nonlinear.encode(x, pts), pts) - x) ** 2))
    assert mse["kmeans"] <= mse["density"]


def test_nearest_encoding_picks_the_nearest_point_legacy_the_floor():
    pts = np.array([[0.0, 1.0, 2.0, 3.0]], dtype=np.float32)
    x = np.array([0.4, 0.6, 2.9, -5, 9], dtype=np.float32).reshape(1, 1, 1, 5)
    assert nonlinear.encode(x, pts).ravel().tolist() == [0, 1, 3, 0, 3]
    assert nonlinear.encode(x, pts, mode="legacy").ravel().tolist() == [0, 0, 2, 0, 3]


def test_per_channel_tables():
    x = peaky(2)
    pts = fit_points([x], 5, per_channel=True)
    assert pts.shape == (4, 32)
    rec = nonlinear.decode(nonlinear.encode(x, pts), pts)
    for c in range(4):
        assert rec[:, c].min() >= pts[c].min() and rec[:, c].max() <= pts[c].max()
    global_pts = fit_points([x], 5)
    per = np.mean((rec - x) ** 2)
    glob = np.mean((nonlinear.decode(nonlinear.encode(x, global_pts), global_pts) - x) ** 2)
    assert per < glob


@pytest.mark.slow  # fits on large inputs
def test_fitting_is_deterministic_and_fast_on_large_inputs():
    # 10 samples of 20M points = 200M values: subsampled deterministically. Here a scaled
    # version (10 x 2M) must fit in seconds; benchmarks/transforms.py times the full size.
    rng = np.random.default_rng(3)
    samples = [rng.laplace(size=(1, 1, 1000, 2000)).astype(np.float32) for _ in range(10)]
    t0 = time.perf_counter()
    a = fit_points(samples, 10, max_points=500_000)
    elapsed = time.perf_counter() - t0
    b = fit_points(samples, 10, max_points=500_000)
    np.testing.assert_array_equal(a, b)
    assert elapsed < 60


def test_errors():
    with pytest.raises(ValueError, match="method"):
        fit_points([peaky()], 4, method="lloyd-max")
    with pytest.raises(ValueError, match="sorted"):
        nonlinear.encode(peaky(), np.array([[3.0, 1.0]], dtype=np.float32))
    with pytest.raises(ValueError, match="do not match"):
        nonlinear.encode(peaky(), np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        fit_points([np.full((1, 1, 2, 2), np.nan, dtype=np.float32)], 2)
