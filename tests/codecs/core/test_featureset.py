"""Feature-set folders: manifest, hashes, resume, clear errors."""
import json

import numpy as np
import pytest

from fcbench.codecs import FeatureSet, FeatureSetError


def test_write_read_verify(tmp_path):
    fs = FeatureSet.create(tmp_path / "fs", "llama3", "csr", "layer 32", checkpoint_sha256="abc")
    x = np.random.default_rng(0).normal(size=(1, 1, 5, 8)).astype(np.float32)
    fs.write("q001", x, origin_dtype="bfloat16")
    again = FeatureSet.open(tmp_path / "fs")
    assert again.ids == ["q001"] and again.meta["checkpoint_sha256"] == "abc"
    assert again.info("q001").origin_dtype == "bfloat16" and again.info("q001").shape == [1, 1, 5, 8]
    np.testing.assert_array_equal(again.read("q001"), x)
    assert again.verify() == []


def test_resume_keeps_written_samples_and_checks_identity(tmp_path):
    fs = FeatureSet.create(tmp_path, "dinov2", "cls", "block 40")
    fs.write("a", np.zeros((1, 1, 2, 2), np.float32))
    resumed = FeatureSet.create(tmp_path, "dinov2", "cls", "block 40")
    assert "a" in resumed
    with pytest.raises(FeatureSetError, match="holds a feature set"):
        FeatureSet.create(tmp_path, "dinov2", "seg", "block 40")


def test_corruption_and_bad_input_are_named(tmp_path):
    fs = FeatureSet.create(tmp_path, "sd3", "tti", "latent")
    fs.write("img1", np.ones((1, 16, 4, 4), np.float16))
    (tmp_path / "img1.npy").write_bytes((tmp_path / "img1.npy").read_bytes()[:-4] + b"\0\0\0\0")
    assert "sha256" in FeatureSet.open(tmp_path).verify()[0]
    with pytest.raises(FeatureSetError, match="NaN"):
        fs.write("bad", np.full((1, 1, 2, 2), np.nan, np.float32))
    with pytest.raises(FeatureSetError, match="safe file name"):
        fs.write("../escape", np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(FeatureSetError, match="manifest.json is missing"):
        FeatureSet.open(tmp_path / "nowhere")
    with pytest.raises(FeatureSetError, match="not in feature set"):
        fs.read("img2")


def test_no_temporary_files_are_left(tmp_path):
    fs = FeatureSet.create(tmp_path, "m", "t", "s")
    for i in range(3):
        fs.write(f"s{i}", np.zeros((1, 1, 2, 2), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "s0.npy", "s1.npy", "s2.npy"]
    assert len(json.loads((tmp_path / "manifest.json").read_text())["samples"]) == 3
