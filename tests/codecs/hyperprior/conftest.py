"""Fixtures for the learned-codec tests: synthetic peaky features and tiny trained models.

Features mimic transformer activations: a Laplacian body plus a few outlier channels (columns
of the packed frame) with large, nearly constant offsets. Models are tiny (N=M=16) and trained
for a few hundred CPU steps, once per session, at three lambdas.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fcbench.codecs import FeatureSet

ROWS, COLS = 64, 256
LOW, HIGH = -10.0, 10.0
OUTLIER_COLS = (7, 100, 201)
LAMBDAS = (0.0002, 0.0008, 0.0032)
TINY = {"N": 16, "M": 16}
TRAIN_KW = dict(crop=(64, 64), batch_size=8, lr=3e-3, low=LOW, high=HIGH, layout="generic",
                crops_per_epoch=100, device="cpu", progress=False, plot=False, **TINY)


def peaky(rng: np.random.Generator, rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    """(1, 1, rows, cols) float32: Laplacian body (scale 1.5), correlated along tokens (rows,
    AR(1) 0.95) and channels (columns, AR(1) 0.8) so a tiny model learns it in a few hundred
    steps, plus 3 outlier channels offset by +6, -8 and +10."""
    e = rng.laplace(0.0, 1.5, (rows, cols))
    x = np.empty_like(e)
    x[0] = e[0]
    for t in range(1, rows):
        x[t] = 0.95 * x[t - 1] + np.sqrt(1 - 0.95**2) * e[t]
    for c in range(1, cols):
        x[:, c] = 0.8 * x[:, c - 1] + np.sqrt(1 - 0.8**2) * x[:, c]
    x = x[None, None].astype(np.float32)
    idx = [c % cols for c in OUTLIER_COLS]
    x[..., idx] += np.array([6.0, -8.0, 10.0], dtype=np.float32) + rng.normal(0.0, 0.5, (1, 1, rows, 3)).astype(np.float32)
    return x


@contextlib.contextmanager
def one_thread():
    """2 cores are shared by many jobs: torch's spinning intra-op threads then cost many times
    the wall time. One thread, restored afterwards (fresh processes run with 2 threads, which
    also checks that streams decode across thread counts)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="package", autouse=True)
def _single_thread():
    with one_thread():
        yield


@pytest.fixture(scope="session")
def peaky_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("peaky") / "features"
    rng = np.random.default_rng(1234)
    fs = FeatureSet.create(root, "synthetic", "peaky", "none")
    for i in range(10):
        fs.write(f"s{i:02d}", peaky(rng))
    return root


@pytest.fixture(scope="session")
def test_features() -> list[np.ndarray]:
    """Held-out features (never trained on) for rate-distortion checks."""
    rng = np.random.default_rng(99)
    return [peaky(rng) for _ in range(4)]


@pytest.fixture(scope="session")
def trained(tmp_path_factory, peaky_set) -> dict:
    """lambda -> TrainResult, each trained 400 steps (~15 s each on one CPU thread)."""
    from fcbench.codecs.hyperprior import train

    out = tmp_path_factory.mktemp("trained")
    # After 400 steps the last iterate is still noisy; the best-on-validation checkpoint (3
    # validation frames) makes the RD ordering of the three lambdas stable.
    kw = {**TRAIN_KW, "evaluate": "best", "val_fraction": 0.3}
    with one_thread():  # session fixtures are set up before the package-scoped thread limit
        return {lam: train(peaky_set, out / f"lambda{lam}", lam, steps=400, seed=0, **kw) for lam in LAMBDAS}


@pytest.fixture(scope="session")
def untrained_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of a freshly initialised tiny model (lambda 0.01), without any training."""
    from tests.codecs.checkpoints import write_untrained_checkpoint

    return write_untrained_checkpoint(tmp_path_factory.mktemp("untrained") / "untrained.pt")


def _run_python(code: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture
def run_python():
    """Run code in a fresh interpreter (same venv); fails the test with its stderr."""
    return _run_python


@pytest.fixture(scope="session")
def train_kw() -> dict:
    """Training options of the tiny test models (explicit range and layout of the peaky set)."""
    return dict(TRAIN_KW)
