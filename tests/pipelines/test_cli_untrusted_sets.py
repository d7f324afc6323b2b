"""Hostile and broken feature sets through the real CLI: nothing is read or written outside the
folders given, `data verify` never calls them intact (issue #12, items 1 and 5)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from fcbench.pipelines.cli import main
from tests.codecs.features.manifest_edits import edit_manifest, make_set


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def escaping_set(tmp_path) -> Path:
    """A set whose manifest names '../outside' with the right sha256 of a file beside the set."""
    root = tmp_path / "work" / "set"
    make_set(root)
    outside = tmp_path / "work" / "outside.npy"
    outside.write_bytes((root / "s1.npy").read_bytes())

    def change(body):
        body["samples"].append({**body["samples"][1], "id": "../outside",
                                "sha256": hashlib.sha256(outside.read_bytes()).hexdigest()})
        return body

    edit_manifest(root, change)
    return root


def test_verify_and_encode_refuse_an_id_that_leaves_the_set(escaping_set, tmp_path, capsys):
    assert main(["data", "verify", str(escaping_set)]) == 1
    out = capsys.readouterr().out
    assert "intact" not in out and "sample id '../outside' is not a safe file name" in out
    before = files_under(tmp_path)
    out_dir = tmp_path / "work" / "out"
    rc = main(["encode", "--features", str(escaping_set), "--codec", "bypass", "--rate-points", "0",
               "--low", "-1", "--high", "1", "--out", str(out_dir), "-j", "1", "--no-progress"])
    assert rc == 1
    assert "sample id '../outside' is not a safe file name" in capsys.readouterr().err
    assert files_under(tmp_path) == before  # nothing written, inside --out or anywhere else


@pytest.mark.parametrize("change,problem", [
    (lambda b: {**b, "samples": b["samples"] + [b["samples"][0]]}, "sample id 's0' appears more than once"),
    (lambda b: {k: v for k, v in b.items() if k != "samples"}, "no 'samples' list"),
    (lambda b: b["samples"], "a manifest is a JSON object, got a JSON list"),
])
def test_verify_fails_on_a_broken_manifest(tmp_path, capsys, change, problem):
    make_set(tmp_path / "set")
    edit_manifest(tmp_path / "set", change)
    assert main(["data", "verify", str(tmp_path / "set")]) == 1
    out = capsys.readouterr().out
    assert "intact" not in out and problem in out
    rc = main(["encode", "--features", str(tmp_path / "set"), "--codec", "bypass", "--rate-points", "0",
               "--low", "-1", "--high", "1", "--out", str(tmp_path / "out"), "-j", "1", "--no-progress"])
    assert rc == 1 and problem in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_sample_list_cannot_reach_outside_the_data_folder(tmp_path):
    from fcbench.machines import images

    data = tmp_path / "data"
    (data / "JPEGImages").mkdir(parents=True)
    listing = tmp_path / "list.txt"
    listing.write_text("../../secret\n")
    with pytest.raises(images.DataError, match=r"list.txt line 1: sample id '../../secret' is not a safe file name"):
        images.voc_samples(data, listing)
    listing.write_text("../rgb.jpg ../depth.png 518.8\n")
    with pytest.raises(images.DataError, match="not a relative path inside the data folder"):
        images.nyu_samples(data, listing)


def test_feature_values_are_checked_not_only_hashes(tmp_path, capsys):
    from tests.codecs.features.manifest_edits import poison_with_nan

    make_set(tmp_path / "set")
    poison_with_nan(tmp_path / "set", "s1")
    assert main(["data", "verify", str(tmp_path / "set")]) == 1
    assert "sample 's1'" in capsys.readouterr().out
    data = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert [s["id"] for s in data["samples"]] == ["s0", "s1"]
    assert np.load(tmp_path / "set" / "s0.npy").shape == (1, 1, 2, 2)
