"""Importing the released feature test set: checks against the test conditions, streaming,
resume after a kill, and re-imports that copy nothing."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fcbench.codecs import FeatureSet
from fcbench.codecs.features import importing as fi
from fcbench.codecs.features import testsets
from fcbench.codecs.features.featureset import FeatureSetError
from fcbench.codecs.features.importing import import_released
from fcbench.codecs.sweeps.run import run_sweep
from tests.codecs.features.released import write_released as released

CLS = testsets.official_ids("dinov2", "cls")
CSR = testsets.official_ids("llama3", "csr")
TTI = testsets.official_ids("sd3", "tti")


@pytest.fixture
def cls_src(tmp_path):
    src = tmp_path / "dinov2" / "cls" / "feature_test"
    for i, sid in enumerate(CLS[:3]):
        released(src, sid, (1, 1, 257, 1536), seed=i)
    return src


def test_good_files_become_a_feature_set_and_bad_ones_are_named(cls_src, tmp_path):
    released(cls_src, CLS[3], (1, 1, 257, 1536), dtype=np.float64)
    released(cls_src, CLS[4], (1, 1, 256, 1536))
    x = released(cls_src, CLS[5], (1, 1, 257, 1536))
    x[0, 0, 100, 7] = np.nan
    np.save(cls_src / f"{CLS[5]}.npy", x)
    data = (cls_src / f"{CLS[0]}.npy").read_bytes()
    (cls_src / f"{CLS[6]}.npy").write_bytes(data[:-4])  # truncated
    (cls_src / f"{CLS[7]}.npy").write_bytes(b"not an npy file")
    released(cls_src, "ILSVRC2012_val_99999999", (1, 1, 257, 1536))  # not an official sample
    (cls_src / "notes.txt").write_text("x")

    report = import_released(cls_src, "dinov2", "cls", tmp_path / "out")
    assert not report.ok
    assert report.copied == list(CLS[:3])
    assert report.bad[f"{CLS[3]}.npy"] == "dtype <f8 (float64), the test conditions say float32"
    assert report.bad[f"{CLS[4]}.npy"] == "shape 1x1x256x1536, the test conditions say 1x1x257x1536"
    assert report.bad[f"{CLS[5]}.npy"] == f"non-finite value nan at flat index {100 * 1536 + 7}"
    assert "truncated or padded" in report.bad[f"{CLS[6]}.npy"]
    assert "not a readable .npy file" in report.bad[f"{CLS[7]}.npy"]
    assert report.extra == ["ILSVRC2012_val_99999999.npy", "notes.txt"]
    assert report.missing == list(CLS[8:])
    text = "\n".join(report.lines())
    assert f"bad: {CLS[3]}.npy: dtype" in text and "extra: notes.txt" in text and f"missing: {CLS[99]}.npy" in text

    fs = FeatureSet.open(tmp_path / "out")
    assert fs.ids == list(CLS[:3]) and fs.verify() == []
    assert (fs.meta["model"], fs.meta["task"]) == ("dinov2", "cls") and "block 40" in fs.meta["split_point"]
    for i, sid in enumerate(CLS[:3]):
        assert (fs.root / f"{sid}.npy").read_bytes() == (cls_src / f"{sid}.npy").read_bytes()  # bytes as released
        assert fs.info(sid).origin_dtype == "float32" and fs.info(sid).shape == [1, 1, 257, 1536]
    assert not list(fs.root.glob(".*.tmp"))  # rejected files left nothing behind


def test_reimport_copies_nothing_and_notices_changes(cls_src, tmp_path):
    dest = tmp_path / "out"
    first = import_released(cls_src, "dinov2", "cls", dest)
    assert first.ok and len(first.copied) == 3 and first.bytes_copied == sum(
        (cls_src / f"{s}.npy").stat().st_size for s in CLS[:3])
    again = import_released(cls_src, "dinov2", "cls", dest)
    assert again.copied == [] and again.unchanged == list(CLS[:3]) and again.bytes_read == again.bytes_copied == 0
    # touched (same content): read and hashed, not copied
    path = cls_src / f"{CLS[1]}.npy"
    path.write_bytes(path.read_bytes())
    touched = import_released(cls_src, "dinov2", "cls", dest)
    assert touched.copied == [] and touched.bytes_copied == 0 and touched.bytes_read == path.stat().st_size
    # new content: copied again, manifest updated
    new = released(cls_src, CLS[1], (1, 1, 257, 1536), seed=42)
    changed = import_released(cls_src, "dinov2", "cls", dest)
    assert changed.copied == [CLS[1]]
    np.testing.assert_array_equal(FeatureSet.open(dest).read(CLS[1]), new)


def test_killed_import_resumes(cls_src, tmp_path, monkeypatch):
    dest = tmp_path / "out"
    real = fi.copy_checked
    calls = []

    def dies_on_second(src, target, tc, sid):
        calls.append(sid)
        if len(calls) == 2:
            with fi.atomic.open_write(target) as out:  # killed in the middle of writing
                out.write(b"half")
                raise KeyboardInterrupt
        return real(src, target, tc, sid)

    monkeypatch.setattr(fi, "copy_checked", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        import_released(cls_src, "dinov2", "cls", dest)
    assert FeatureSet.open(dest).ids == [CLS[0]] and not (dest / f"{CLS[1]}.npy").exists()
    (dest / f".{CLS[1]}.npy.k1ll3d.tmp").write_bytes(b"left by SIGKILL")
    monkeypatch.setattr(fi, "copy_checked", real)
    resumed = import_released(cls_src, "dinov2", "cls", dest)
    assert resumed.unchanged == [CLS[0]] and resumed.copied == list(CLS[1:3])
    assert FeatureSet.open(dest).verify() == [] and not list(dest.glob(".*.tmp"))


def test_values_are_checked_chunk_by_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(fi, "CHUNK", 4096)  # many chunks per file; the set is streamed
    src = tmp_path / "src"
    x = released(src, CLS[0], (1, 1, 257, 1536))
    x.reshape(-1)[300_001] = np.inf
    np.save(src / f"{CLS[0]}.npy", x)
    report = import_released(src, "dinov2", "cls", tmp_path / "out")
    assert report.bad == {f"{CLS[0]}.npy": "non-finite value inf at flat index 300001"}


def test_csr_lengths_from_the_official_list_and_bf16_origin(tmp_path):
    src = tmp_path / "src"
    lengths = testsets.arc_lengths()
    released(src, CSR[0], (1, 1, lengths[CSR[0]], 4096))
    released(src, f"arc_{CSR[1]}", (1, 1, lengths[CSR[1]], 4096))  # the reference's training-set prefix
    released(src, CSR[2], (1, 1, lengths[CSR[2]] + 1, 4096))
    report = import_released(src, "llama3", "csr", tmp_path / "out")
    assert report.copied == [CSR[0], CSR[1]]
    want = f"1x1x{lengths[CSR[2]]}x4096"
    assert report.bad == {f"{CSR[2]}.npy": f"shape 1x1x{lengths[CSR[2]] + 1}x4096, the test conditions say {want}"}
    fs = FeatureSet.open(tmp_path / "out")
    assert fs.info(CSR[1]).origin_dtype == "bfloat16" and fs.info(CSR[1]).dtype == "float32"


def test_tti_is_float16_and_an_imported_set_encodes(tmp_path):
    src = tmp_path / "src"
    released(src, TTI[0], (1, 16, 128, 128), dtype=np.float16)
    released(src, TTI[1], (1, 16, 128, 128), dtype=np.float32)
    report = import_released(src, "sd3", "tti", tmp_path / "out")
    assert report.copied == [TTI[0]] and "dtype <f4 (float32), the test conditions say float16" in report.bad[f"{TTI[1]}.npy"]
    res = run_sweep(tmp_path / "out", "bypass", {}, [0], {"low": -6.176, "high": 4.668, "layout": "sd3"},
                    tmp_path / "enc", jobs=1, progress=False)
    assert res.rows[0]["sample"] == TTI[0] and res.rows[0]["ebpfp"] == 2 * res.rows[0]["bpfp"]


def test_wrong_destination_and_source_are_clear_errors(cls_src, tmp_path):
    import_released(cls_src, "dinov2", "cls", tmp_path / "out")
    with pytest.raises(FeatureSetError, match="holds a dinov2/cls feature set, not sd3/tti"):
        import_released(cls_src, "sd3", "tti", tmp_path / "out")
    with pytest.raises(FeatureSetError, match="does not exist or is not a folder"):
        import_released(tmp_path / "nope", "dinov2", "cls", tmp_path / "o2")
    with pytest.raises(KeyError, match="no test conditions for model 'dinov2' task 'xyz'"):
        import_released(cls_src, "dinov2", "xyz", tmp_path / "o3")


def test_the_name_mapping_of_every_task():
    assert testsets.official_ids("dinov2", "dpt")[0] == "bathroom_rgb_00045"
    assert testsets.official_ids("dinov2", "seg")[0] == "2007_000323"
    assert testsets.official_ids("sd3", "tti")[0] == "COCO_val2017_000000397133"
    assert testsets.official_ids("dinov2", "cls")[0] == "ILSVRC2012_val_00000293"
    assert len(CSR) == len(CLS) == len(TTI) == 100 and set(testsets.arc_lengths()) == set(CSR)
    assert testsets.sample_id_of("llama3", "csr", f"arc_{CSR[5]}") == CSR[5]
    assert testsets.sample_id_of("dinov2", "cls", f"arc_{CLS[5]}") == f"arc_{CLS[5]}"
    assert json.loads(json.dumps(testsets.expected_shape("dinov2", "seg", "x", (-1, 1, 1370, 1536)))) == [None, 1, 1370, 1536]
