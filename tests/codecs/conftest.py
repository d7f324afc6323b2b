"""Fixtures shared by the codec tests: feature sets of structured synthetic features."""
from __future__ import annotations

from pathlib import Path

import pytest

from fcbench.codecs import FeatureSet
from tests.codecs.traditional.helpers import smooth_feature


@pytest.fixture
def make_featureset(tmp_path: Path):
    """make_featureset(n, shape) -> FeatureSet folder of n structured samples."""

    def make(n: int = 3, shape=(1, 1, 64, 256), name: str = "features", origin_dtype=None) -> FeatureSet:
        fs = FeatureSet.create(tmp_path / name, model="llama3", task="csr", split_point="layer 32")
        for i in range(n):
            fs.write(f"sample{i:02d}", smooth_feature(shape, seed=i), origin_dtype=origin_dtype)
        return fs

    return make
