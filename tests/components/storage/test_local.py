"""LocalStorage (plain paths and file:// URIs) and the key layout."""
from __future__ import annotations

import hashlib
import json

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
from fcbench.components.storage.keys import StorageKeyError, artifact_key, check_key, rate_tag


def test_open_local_paths(tmp_path):
    assert isinstance(open_storage(str(tmp_path)), LocalStorage)
    st = open_storage(tmp_path.as_uri() + "/sub")
    assert isinstance(st, LocalStorage) and st.root == tmp_path / "sub"
    assert st.url("a/b.npy") == (tmp_path / "sub" / "a" / "b.npy").as_uri()


def test_local_roundtrip_and_listing(tmp_path):
    st = open_storage(str(tmp_path / "root"))
    st.put_bytes("m/t/features/a.npy", b"1")
    st.put_bytes("m/t/features/b.npy", b"22")
    st.put_bytes("m/t2/x.bin", b"333")
    assert st.ls() == ["m/t/features/a.npy", "m/t/features/b.npy", "m/t2/x.bin"]
    assert st.ls("m/t/") == ["m/t/features/a.npy", "m/t/features/b.npy"]
    assert st.ls("m/t") == ["m/t/features/a.npy", "m/t/features/b.npy", "m/t2/x.bin"]  # string prefix, as S3
    assert st.ls("nothing/") == []
    assert st.get_bytes("m/t2/x.bin") == b"333"
    assert st.stat("m/t2/x.bin").size == 3
    assert st.checksum("m/t2/x.bin") == hashlib.sha256(b"333").hexdigest()
    st.delete("m/t2/x.bin")
    assert not st.exists("m/t2/x.bin")
    with pytest.raises(StorageNotFound, match="x.bin: no such file"):
        st.get_bytes("m/t2/x.bin")
    # Writes leave no temp files behind.
    assert sorted(p.name for p in (tmp_path / "root" / "m" / "t" / "features").iterdir()) == ["a.npy", "b.npy"]


def test_local_put_stream_rejects_short_or_wrong_source(tmp_path):
    import io

    st = open_storage(str(tmp_path))
    with pytest.raises(StorageIntegrityError, match="ended after 3 of 10 bytes"):
        st.put_stream("a.bin", io.BytesIO(b"abc"), 10, hashlib.sha256(b"abc").hexdigest())
    with pytest.raises(StorageIntegrityError, match="sha256"):
        st.put_stream("a.bin", io.BytesIO(b"abc"), 3, "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_keys_reject_escapes(tmp_path):
    st = open_storage(str(tmp_path))
    for bad in ("../x", "/abs", "a//b", "a/./b", "a\\b", ""):
        with pytest.raises(StorageKeyError):
            st.put_bytes(bad, b"")
    assert check_key("a/b/", allow_prefix=True) == "a/b/"


def test_artifact_key_layout():
    assert artifact_key("dinov2", "cls", "features") == "dinov2/cls/features/"
    assert artifact_key("dinov2", "cls", "features", sample="ILSVRC_1") == "dinov2/cls/features/ILSVRC_1.npy"
    assert artifact_key("dinov2", "seg", "bitstreams", label="vtm", rate_point=32) == "dinov2/seg/vtm/qp32/bitstreams/"
    assert artifact_key("dinov2", "seg", "bitstreams", label="x265", rate_point=22, sample="a") == "dinov2/seg/x265/qp22/bitstreams/a.bin"
    assert artifact_key("llama3", "csr", "recon", label="hyperprior", rate_point=0.0018) == "llama3/csr/hyperprior/lambda0.0018/recon/"
    assert artifact_key("sd3", "tti", "metrics", label="vtm", rate_point=47) == "sd3/tti/vtm/qp47/metrics/"
    assert artifact_key("sd3", "tti", "hyperprior", rate_point=0.01) == "sd3/tti/hyperprior/lambda0.01/"
    assert artifact_key("", "", "reports", run="run-2026-11-25") == "reports/run-2026-11-25/"
    assert rate_tag(37) == "qp37" and rate_tag(1e-5) == "lambda1e-05"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(model="dinov2", task="cls", kind="pictures"), "unknown artifact kind"),
        (dict(model="meta/llama", task="csr", kind="features"), "model 'meta/llama'"),
        (dict(model="m", task="..", kind="features"), "task '..'"),
        (dict(model="m", task="t", kind="bitstreams", label="vtm"), "needs label and rate_point"),
        (dict(model="m", task="t", kind="hyperprior", rate_point=32), "keyed by its lambda"),
        (dict(model="m", task="t", kind="reports"), "needs run="),
        (dict(model="m", task="t", kind="recon", label="vtm", rate_point=True), "int \\(QP\\) or a float"),
        (dict(model="m", task="t", kind="recon", label="hp", rate_point=-0.1), "positive finite"),
        (dict(model="m", task="t", kind="hyperprior", rate_point=0.1, sample="a"), "no per-sample files"),
    ],
)
def test_artifact_key_errors(kwargs, match):
    with pytest.raises(StorageKeyError, match=match):
        artifact_key(**kwargs)


def test_local_push_pull_verify_featureset(tmp_path, featureset):
    st = open_storage(str(tmp_path / "store"))
    prefix = artifact_key("dinov2", "cls", "features")
    report = st.push_dir(featureset.root, prefix)
    assert (report.files, report.transferred, report.skipped) == (5, 5, 0)
    assert st.exists(prefix + INDEX) and st.exists(prefix + "manifest.json")
    assert st.verify_featureset(prefix) == []
    assert verify_featureset(str(tmp_path / "store" / prefix)) == []
    # A rerun finds everything intact and sends nothing.
    again = st.push_dir(featureset.root, prefix)
    assert (again.transferred, again.skipped) == (0, 5)

    out = tmp_path / "pulled"
    st.pull_dir(prefix, out)
    pulled = FeatureSet.open(out)
    assert pulled.ids == featureset.ids
    for sid in featureset.ids:
        np.testing.assert_array_equal(pulled.read(sid), featureset.read(sid))


def test_push_refuses_a_corrupt_featureset(tmp_path, featureset):
    (featureset.root / "s001.npy").write_bytes(b"garbage")
    st = open_storage(str(tmp_path / "store"))
    with pytest.raises(StorageIntegrityError, match="refusing to push .*s001"):
        st.push_dir(featureset.root, "fs")
    # Samples are checked as they are sent (read once): what went before stays unpublished, as
    # the manifest and the index are never written, and the damaged file is not stored.
    assert not {"fs/manifest.json", f"fs/{INDEX}", "fs/s001.npy"} & set(st.ls())


def test_verify_reports_tampering_and_missing(tmp_path, featureset):
    st = open_storage(str(tmp_path / "store"))
    st.push_dir(featureset.root, "fs")
    st.put_bytes("fs/s002.npy", b"changed")
    st.delete("fs/s003.npy")
    problems = st.verify_featureset("fs")
    assert any("s002" in p and "sha256" in p for p in problems)
    assert any("s003" in p and "missing" in p for p in problems)
    assert verify_featureset(str(tmp_path / "nothing")) == [f"not a feature set: {tmp_path / 'nothing' / 'manifest.json'} is missing"]


def test_stage_local_returns_the_path(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"w")
    assert stage(str(f), tmp_path / "cache") == f
    assert stage(f.as_uri(), tmp_path / "cache") == f
    with pytest.raises(StorageNotFound, match="does not exist"):
        stage(str(tmp_path / "missing"), tmp_path / "cache")


def test_pull_of_something_that_is_not_a_folder(tmp_path):
    st = open_storage(str(tmp_path))
    with pytest.raises(StorageNotFound, match="not a pushed folder"):
        st.pull_dir("nope", tmp_path / "out")


def test_index_is_valid_json_with_every_file(tmp_path, featureset):
    st = open_storage(str(tmp_path / "store"))
    st.push_dir(featureset.root, "fs")
    index = json.loads(st.get_bytes("fs/" + INDEX))
    assert sorted(index["files"]) == sorted(["manifest.json"] + [f"{s}.npy" for s in featureset.ids])
    for name, entry in index["files"].items():
        assert entry["sha256"] == hashlib.sha256((featureset.root / name).read_bytes()).hexdigest()


def test_hostile_or_broken_manifest_is_reported_not_followed(tmp_path):
    st = open_storage(str(tmp_path / "store"))
    entry = {"id": "../../etc/passwd", "shape": [1], "dtype": "float32", "sha256": "0" * 64}
    st.put_bytes("fs/manifest.json", json.dumps({"samples": [entry]}).encode())
    problems = st.verify_featureset("fs")
    assert len(problems) == 1 and "sample id '../../etc/passwd' is not a safe file name" in problems[0]
    with pytest.raises(StorageIntegrityError, match="not a safe file name"):
        st.pull_dir("fs", tmp_path / "out")
    assert not (tmp_path / "etc").exists()
    st.put_bytes("fs2/manifest.json", b"{not json")
    assert "not valid JSON" in st.verify_featureset("fs2")[0]
