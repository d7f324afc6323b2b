"""Feature sets in a bucket: push (manifest last), pull, verify, stage."""
from __future__ import annotations

import numpy as np
import pytest

from fcbench.codecs.features.featureset import FeatureSet
from fcbench.components.storage import (
    INDEX,
    LocalStorage,
    StorageIntegrityError,
    StorageNotFound,
    open_storage,
    stage,
    verify_featureset,
)
from fcbench.components.storage.keys import artifact_key

PREFIX = artifact_key("dinov2", "cls", "features")


def test_push_pull_verify_roundtrip(s3_config, bucket, featureset, tmp_path):
    st = open_storage(f"s3://{bucket}/bench", s3_config)
    report = st.push_dir(featureset.root, PREFIX)
    assert (report.files, report.transferred) == (5, 5)
    assert st.ls(PREFIX) == sorted(PREFIX + n for n in [INDEX, "manifest.json"] + [f"{s}.npy" for s in featureset.ids])
    assert verify_featureset(f"s3://{bucket}/bench/{PREFIX}", s3_config) == []
    assert st.verify_dir(PREFIX) == []

    out = tmp_path / "pulled"
    pulled = st.pull_dir(PREFIX, out)
    assert pulled.transferred == 5
    fs = FeatureSet.open(out)
    assert fs.verify() == [] and fs.meta["model"] == "dinov2"
    for sid in featureset.ids:
        np.testing.assert_array_equal(fs.read(sid), featureset.read(sid))
    # A second pull finds every file intact locally and downloads nothing.
    assert st.pull_dir(PREFIX, out).transferred == 0


class _FailingAfter:
    """Wraps a storage so that its n-th upload fails (a producer killed mid-push)."""

    def __init__(self, storage, n: int):
        self.storage, self.n, self.calls = storage, n, 0
        self.original = storage._put_stream

    def __call__(self, key, stream, length, sha256):
        self.calls += 1
        if self.calls == self.n:
            raise ConnectionError(f"push killed while uploading {key}")
        return self.original(key, stream, length, sha256)


def test_interrupted_push_hides_the_set_and_rerun_resumes(s3_config, bucket, featureset, monkeypatch):
    st = open_storage(f"s3://{bucket}", s3_config)
    monkeypatch.setattr(st, "_put_stream", _FailingAfter(st, 3))
    with pytest.raises(ConnectionError):
        st.push_dir(featureset.root, PREFIX)
    # Two samples made it; no manifest and no index, so no reader takes the set as complete.
    assert st.ls(PREFIX) == [PREFIX + "s000.npy", PREFIX + "s001.npy"]
    assert verify_featureset(f"s3://{bucket}/{PREFIX}", s3_config)[0].startswith("not a feature set")
    with pytest.raises(StorageNotFound, match="not a pushed folder"):
        st.pull_dir(PREFIX, "unused")
    monkeypatch.undo()
    report = st.push_dir(featureset.root, PREFIX)
    assert (report.transferred, report.skipped) == (3, 2)
    assert st.verify_featureset(PREFIX) == []


def test_repush_of_changed_set_withdraws_old_manifest_first(s3_config, bucket, featureset, monkeypatch):
    st = open_storage(f"s3://{bucket}", s3_config)
    st.push_dir(featureset.root, PREFIX)
    featureset.write("s001", np.zeros((1, 8, 6, 5), np.float32))  # the set changes locally
    monkeypatch.setattr(st, "_put_stream", _FailingAfter(st, 1))
    with pytest.raises(ConnectionError):
        st.push_dir(featureset.root, PREFIX)
    # The old manifest no longer vouches for a set that is being replaced.
    assert not st.exists(PREFIX + "manifest.json") and not st.exists(PREFIX + INDEX)
    monkeypatch.undo()
    assert st.push_dir(featureset.root, PREFIX).transferred == 2  # s001 + manifest
    assert st.verify_featureset(PREFIX) == []


def test_verify_and_pull_catch_remote_corruption(s3_config, bucket, featureset, tmp_path):
    st = open_storage(f"s3://{bucket}", s3_config)
    st.push_dir(featureset.root, PREFIX)
    st.put_bytes(PREFIX + "s002.npy", b"not the sample")  # replaced behind the manifest's back
    st.delete(PREFIX + "s003.npy")
    problems = verify_featureset(f"s3://{bucket}/{PREFIX}", s3_config)
    assert any("s002" in p and "sha256" in p for p in problems), problems
    assert any("s003" in p and "missing" in p for p in problems), problems
    with pytest.raises((StorageIntegrityError, StorageNotFound)):
        st.pull_dir(PREFIX, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists(), "a failed pull must not look complete"


def test_manifest_only_set_pulls_and_verifies(s3_config, bucket, featureset, tmp_path):
    # A feature set copied in by another tool (no fcbench index) is still pulled and verified
    # against its own manifest.
    st = open_storage(f"s3://{bucket}", s3_config)
    for path in sorted(featureset.root.iterdir()):
        st.put_file("other/" + path.name, path)
    assert st.verify_featureset("other") == []
    st.pull_dir("other", tmp_path / "out")
    assert FeatureSet.open(tmp_path / "out").verify() == []


def test_stage_object_and_folder_with_cache_reuse(s3_env, bucket, featureset, tmp_path):
    st = open_storage(f"s3://{bucket}")  # endpoint and credentials from the environment
    st.push_dir(featureset.root, PREFIX)
    st.put_bytes("models/hp.pt", b"weights" * 100)
    cache = tmp_path / "cache"

    f = stage(f"s3://{bucket}/models/hp.pt", cache)
    assert f == cache / bucket / "models" / "hp.pt" and f.read_bytes() == b"weights" * 100
    mtime = f.stat().st_mtime_ns
    assert stage(f"s3://{bucket}/models/hp.pt", cache).stat().st_mtime_ns == mtime  # reused
    f.write_bytes(b"damaged")
    assert stage(f"s3://{bucket}/models/hp.pt", cache).read_bytes() == b"weights" * 100  # refetched

    d = stage(f"s3://{bucket}/{PREFIX}", cache)
    assert d == cache / bucket / PREFIX.rstrip("/")
    assert FeatureSet.open(d).verify() == []
    stamps = {p.name: p.stat().st_mtime_ns for p in d.iterdir()}
    stage(f"s3://{bucket}/{PREFIX}", cache)
    assert {p.name: p.stat().st_mtime_ns for p in d.iterdir()} == stamps  # nothing refetched

    with pytest.raises(StorageNotFound, match="neither an object nor a pushed folder"):
        stage(f"s3://{bucket}/nothing/here", cache)


def test_copy_between_local_and_s3(s3_config, bucket, featureset, tmp_path):
    # The published test set imported into a bucket, then mirrored back to another folder.
    local = LocalStorage(tmp_path / "mirror")
    s3 = open_storage(f"s3://{bucket}", s3_config)
    s3.push_dir(featureset.root, PREFIX)
    staged = s3.pull_dir(PREFIX, tmp_path / "staging")
    assert staged.transferred == 5
    local.push_dir(tmp_path / "staging", PREFIX)
    assert local.verify_featureset(PREFIX) == []
