"""Feature-set folders: manifest, hashes, resume, clear errors."""
import json
import random
import subprocess
import sys
import time

import numpy as np
import pytest

from fcbench.codecs import FeatureSet, FeatureSetError
from fcbench.codecs.features.featureset import JOURNAL, LOCK, MANIFEST


def test_write_read_verify(tmp_path):
    fs = FeatureSet.create(tmp_path / "fs", "llama3", "csr", "layer 32", checkpoint_sha256="abc")
    x = np.random.default_rng(0).normal(size=(1, 1, 5, 8)).astype(np.float32)
    fs.write("q001", x, origin_dtype="bfloat16")
    again = FeatureSet.open(tmp_path / "fs")
    assert again.ids == ["q001"] and again.meta["checkpoint_sha256"] == "abc"
    assert again.info("q001").origin_dtype == "bfloat16" and again.info("q001").shape == [1, 1, 5, 8]
    np.testing.assert_array_equal(again.read("q001"), x)
    assert again.verify() == []


def test_a_sample_read_again_unchanged_is_not_hashed_again_but_a_changed_one_is(tmp_path, monkeypatch):
    """#21 item 6: a sweep reads each sample once per rate point; the file is hashed once."""
    import hashlib

    from fcbench.codecs.features import featureset as module

    fs = FeatureSet.create(tmp_path / "fs", "llama3", "csr", "layer 32")
    x = np.arange(40, dtype=np.float32).reshape(1, 1, 5, 8)
    fs.write("q001", x)
    reader = FeatureSet.open(tmp_path / "fs")
    hashed = []
    monkeypatch.setattr(module, "hashlib", type("H", (), {"sha256": lambda data=b"": hashed.append(1) or hashlib.sha256(data)}))
    for _ in range(3):
        np.testing.assert_array_equal(reader.read("q001"), x)
    assert len(hashed) == 1
    path = tmp_path / "fs" / "q001.npy"
    damaged = bytearray(path.read_bytes())
    damaged[-1] ^= 1  # same size, other content, a new file
    tmp = tmp_path / "fs" / "new.npy"
    tmp.write_bytes(bytes(damaged))
    tmp.replace(path)
    with pytest.raises(FeatureSetError, match="does not match its sha256"):
        reader.read("q001")


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
    with FeatureSet.create(tmp_path, "m", "t", "s") as fs:
        for i in range(3):
            fs.write(f"s{i}", np.zeros((1, 1, 2, 2), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK, "manifest.json", "s0.npy", "s1.npy", "s2.npy"]
    assert len(json.loads((tmp_path / "manifest.json").read_text())["samples"]) == 3


def test_a_sample_costs_a_journal_line_not_a_manifest_rewrite(tmp_path):
    fs = FeatureSet.create(tmp_path, "m", "t", "s")
    manifest = (tmp_path / MANIFEST).stat()
    for i in range(5):
        fs.write(f"s{i}", np.full((1, 1, 2, 2), i, np.float32))
    assert (tmp_path / MANIFEST).stat().st_ino == manifest.st_ino  # never rewritten while writing
    assert len((tmp_path / JOURNAL).read_text().splitlines()) == 5 and fs.pending
    reader = FeatureSet.open(tmp_path)  # a reader sees the journal's samples
    assert reader.ids == [f"s{i}" for i in range(5)] and reader.verify() == []
    fs.compact()
    assert not fs.pending and len(json.loads((tmp_path / MANIFEST).read_text())["samples"]) == 5
    assert FeatureSet.open(tmp_path).ids == reader.ids


def test_a_torn_journal_line_drops_only_its_sample(tmp_path):
    fs = FeatureSet.create(tmp_path, "m", "t", "s")
    for i in range(3):
        fs.write(f"s{i}", np.zeros((1, 1, 2, 2), np.float32))
    text = (tmp_path / JOURNAL).read_text()
    (tmp_path / JOURNAL).write_text(text[: len(text) - 20])  # the kill came mid-line
    assert FeatureSet.open(tmp_path).ids == ["s0", "s1"]
    resumed = FeatureSet.create(tmp_path, "m", "t", "s")  # compacts: appends start on a clean line
    assert not resumed.pending and resumed.ids == ["s0", "s1"]
    resumed.write("s2", np.zeros((1, 1, 2, 2), np.float32))
    assert FeatureSet.open(tmp_path).ids == ["s0", "s1", "s2"]


def test_a_rewritten_sample_keeps_its_last_record(tmp_path):
    with FeatureSet.create(tmp_path, "m", "t", "s") as fs:
        fs.write("a", np.zeros((1, 1, 2, 2), np.float32))
        fs.write("b", np.zeros((1, 1, 2, 2), np.float32))
        fs.write("a", np.ones((1, 1, 2, 2), np.float32))
    again = FeatureSet.open(tmp_path)
    assert again.ids == ["a", "b"] and again.verify() == [] and again.read("a").max() == 1


def test_a_new_set_forgets_the_old_records(tmp_path):
    old = FeatureSet.create(tmp_path, "m", "t", "s")
    old.write("a", np.zeros((1, 1, 2, 2), np.float32))
    fresh = FeatureSet.create(tmp_path, "m", "t", "s", resume=False)
    assert fresh.ids == [] and FeatureSet.open(tmp_path).ids == [] and not fresh.pending


_WRITER = """
import sys, numpy as np
from fcbench.codecs import FeatureSet
root, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with FeatureSet.create(root, "m", "t", "s") as fs:
    for i in range(first, first + n):
        if f"s{i:04d}" not in fs:
            fs.write(f"s{i:04d}", np.full((1, 4, 16, 16), i, np.float32))
"""


def _writer(root, first, n):
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(root), str(first), str(n)])


@pytest.mark.slow  # writer subprocesses killed and resumed
def test_killed_writers_resume_with_every_finished_sample(tmp_path):
    rng = random.Random(0)
    partial = 0
    for attempt in range(4):
        proc = _writer(tmp_path, 0, 400)
        while not (tmp_path / JOURNAL).exists() and proc.poll() is None:  # killed while writing
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        proc.kill()
        proc.wait()
        fs = FeatureSet.open(tmp_path)
        assert fs.verify() == [], f"attempt {attempt}: a recorded sample is damaged"
        assert all(fs.read(s).flat[0] == int(s[1:]) for s in fs.ids)
        partial += 0 < len(fs) < 400
    assert partial, "no kill landed while the writer was writing"
    assert _writer(tmp_path, 0, 400).wait() == 0
    done = FeatureSet.open(tmp_path)
    assert done.ids == [f"s{i:04d}" for i in range(400)] and done.verify() == [] and not done.pending
    assert not list(tmp_path.glob(".*.tmp"))  # a killed write's temp file goes when the set resumes


@pytest.mark.slow  # two writer subprocesses
def test_two_writers_of_one_set_lose_nothing(tmp_path):
    FeatureSet.create(tmp_path, "m", "t", "s").compact()
    procs = [_writer(tmp_path, 0, 60), _writer(tmp_path, 40, 60)]  # 40..59 written by both
    assert [p.wait() for p in procs] == [0, 0]
    fs = FeatureSet.open(tmp_path)
    assert sorted(fs.ids) == [f"s{i:04d}" for i in range(100)] and fs.verify() == [] and not fs.pending


def test_a_journal_line_is_untrusted_input_too(tmp_path):
    fs = FeatureSet.create(tmp_path, "m", "t", "s")
    fs.write("a", np.zeros((1, 1, 2, 2), np.float32))
    line = json.loads((tmp_path / JOURNAL).read_text())
    with open(tmp_path / JOURNAL, "a") as f:
        f.write(json.dumps({**line, "id": "../evil"}) + "\n")
    with pytest.raises(FeatureSetError, match=r"\.manifest\.journal: line 2.*not a safe file name"):
        FeatureSet.open(tmp_path)


def test_a_killed_manifest_write_leaves_no_temp_file_after_resume(tmp_path):
    """#24 item 8: kill -9 during a manifest write (data import, compaction) leaves a hidden
    `.manifest.json.*.tmp`; the next writer that resumes the folder removes it."""
    fs = FeatureSet.create(tmp_path, "m", "t", "x")
    fs.write("a", np.zeros((1, 1, 2, 2), np.float32))
    fs.compact()
    stale = tmp_path / ".manifest.json.abc123.tmp"
    stale.write_bytes(b"half a manifest")
    again = FeatureSet.create(tmp_path, "m", "t", "x", resume=True)
    assert not stale.exists() and again.ids == ["a"]


def test_a_manifest_nested_a_hundred_thousand_deep_is_named(tmp_path):
    """#24 item 9: json's RecursionError named no file."""
    (tmp_path / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FeatureSetError, match="manifest.json nests too deeply"):
        FeatureSet.open(tmp_path)
