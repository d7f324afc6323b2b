"""Feature-set manifests are untrusted input: ids, entries and sample files are checked when a set
is opened or read, with one error naming the problem (issue #12, items 1, 4, 5, 14)."""
from __future__ import annotations

import io

import numpy as np
import pytest

from fcbench.codecs import FeatureSet, FeatureSetError
from fcbench.codecs.common.names import UnsafeNameError, check_name, check_relative_path
from tests.codecs.features.manifest_edits import edit_manifest, make_set, replace_sample


@pytest.mark.parametrize("bad_id", ["../evil", "/tmp/evil", "a/b", ".hidden", "-rf", "", "x" * 201, 7])
def test_an_unsafe_sample_id_is_refused_when_the_set_is_opened(tmp_path, bad_id):
    make_set(tmp_path)

    def change(body):
        body["samples"][1]["id"] = bad_id
        return body

    edit_manifest(tmp_path, change)
    with pytest.raises(FeatureSetError, match=r"sample id .* is not a safe file name"):
        FeatureSet.open(tmp_path)


def test_duplicate_sample_ids_are_an_error(tmp_path):
    make_set(tmp_path)
    edit_manifest(tmp_path, lambda b: {**b, "samples": b["samples"] + [b["samples"][0]]})
    with pytest.raises(FeatureSetError, match="sample id 's0' appears more than once"):
        FeatureSet.open(tmp_path)


@pytest.mark.parametrize("change,message", [
    (lambda b: {k: v for k, v in b.items() if k != "samples"}, "no 'samples' list"),
    (lambda b: [b], "a manifest is a JSON object, got a JSON list"),
    (lambda b: {**b, "samples": {"s0": {}}}, "no 'samples' list"),
    (lambda b: {**b, "format": "fcbench-featureset/9"}, "format 'fcbench-featureset/9' is not"),
    (lambda b: {**b, "samples": ["s0"]}, "sample entry 0 is not a JSON object"),
    (lambda b: {**b, "samples": [{k: v for k, v in b["samples"][0].items() if k != "sha256"}]},
     r"sample entry 0 \('s0'\) has no sha256"),
    (lambda b: {**b, "samples": [{**b["samples"][0], "sha256": "abc"}]}, "is not 64 lower-case hex digits"),
    (lambda b: {**b, "samples": [{**b["samples"][0], "shape": [1, -2]}]}, r"shape \[1, -2\] is not a list of sizes"),
    (lambda b: {**b, "samples": [{**b["samples"][0], "dtype": "object"}]}, "dtype 'object' is not one of"),
])
def test_a_malformed_manifest_is_named(tmp_path, change, message):
    make_set(tmp_path)
    edit_manifest(tmp_path, change)
    with pytest.raises(FeatureSetError, match=message):
        FeatureSet.open(tmp_path)


def test_a_corrupt_npy_whose_sha_matches_is_a_clear_error(tmp_path):
    make_set(tmp_path)
    header = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, " + b" " * 60 + b"\n"
    replace_sample(tmp_path, "s1", header)
    fs = FeatureSet.open(tmp_path)
    with pytest.raises(FeatureSetError, match=r"sample 's1': .*s1.npy is not a readable \.npy file"):
        fs.read("s1")
    assert len(fs.verify()) == 1 and "not a readable .npy" in fs.verify()[0]


def test_non_finite_samples_are_refused_on_read_naming_the_sample(tmp_path):
    make_set(tmp_path)
    buf = io.BytesIO()
    np.save(buf, np.array([[[[np.nan, 1], [np.inf, 2]]]], np.float32), allow_pickle=False)
    replace_sample(tmp_path, "s1", buf.getvalue())
    fs = FeatureSet.open(tmp_path)
    np.testing.assert_array_equal(fs.read("s0"), np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(FeatureSetError, match=r"sample 's1': .* contains non-finite values \(1 NaN, 1 Inf\)"):
        fs.read("s1")


def test_a_sample_whose_file_differs_from_its_entry_is_named(tmp_path):
    make_set(tmp_path)
    buf = io.BytesIO()
    np.save(buf, np.zeros((1, 1, 2, 2), np.float64), allow_pickle=False)
    replace_sample(tmp_path, "s1", buf.getvalue())
    with pytest.raises(FeatureSetError, match=r"holds float64 \[1, 1, 2, 2\], the manifest says float32"):
        FeatureSet.open(tmp_path).read("s1")


def test_the_one_safe_name_rule():
    for good in ("ILSVRC2012_val_00000293", "2007_000323", "bathroom_rgb_00045", "Mercury_7222460", "qp22",
                 "lambda0.0017", "x265+side", "a=b", "_x"):
        assert check_name(good, "name") == good
    for bad in ("..", ".", "../x", "a/b", "a\\b", ".x", "-x", "a b", "é", "", None):
        with pytest.raises(UnsafeNameError, match="is not a safe file name"):
            check_name(bad, "name")
    assert check_relative_path("bathroom/rgb_00045.jpg", "path") == "bathroom/rgb_00045.jpg"
    for bad in ("../x.jpg", "/etc/x.jpg", "a//b.jpg", "a/../b.jpg", ""):
        with pytest.raises(UnsafeNameError, match="not a relative path inside the data folder"):
            check_relative_path(bad, "path")
