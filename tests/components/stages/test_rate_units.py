"""A rate point says what it is: the traditional grid is in VTM QPs, AV1 gets CRFs (mapped),
and grids, storage keys and sweep folders carry the codec's unit (qp32, crf33, lambda0.01)."""
from __future__ import annotations

import json

import pytest

from fcbench.codecs.registry import codec_class
from fcbench.components.stages.prepare_coding import rate_grid
from fcbench.components.storage.keys import StorageKeyError, artifact_key, rate_tag

CONDS = {"low": -20}


def test_grid_gives_each_codec_its_own_rate_points_and_unit():
    grid = rate_grid([{"codec": "x265", "identity_hash": "h"}, {"codec": "av1", "identity_hash": "a"}], [],
                     "dinov2", "cls", "traditional", CONDS)
    x265 = [(g["rate_point"], g["rate_unit"]) for g in grid if g["codec"] == "x265"]
    av1 = [(g["rate_point"], g["rate_unit"]) for g in grid if g["codec"] == "av1"]
    assert x265 == [(q, "qp") for q in (22, 27, 32, 37, 42)]  # the test conditions' QPs
    assert av1 == [(c, "crf") for c in codec_class("av1").rate_points_for_qps([22, 27, 32, 37, 42])]
    assert all(g["conditions"] == json.dumps(CONDS) for g in grid)


def test_a_codec_entry_may_carry_its_own_rate_points():
    own = rate_grid([{"codec": "av1", "identity_hash": "a", "rate_points": [20, 40, 40]}], [32], "dinov2", "cls",
                    "traditional", CONDS)
    assert [g["rate_point"] for g in own] == [20, 40] and all("rate_points" not in g for g in own)


def test_qps_map_to_crfs_monotonically_within_range():
    crfs = codec_class("av1").rate_points_for_qps(range(0, 64))
    assert crfs == sorted(crfs) and min(crfs) >= 1 and max(crfs) <= 63
    assert codec_class("x265").rate_points_for_qps([22, 37]) == [22, 37]
    with pytest.raises(ValueError, match="lambda rate points, not VTM QPs"):
        type("Learned", (codec_class("bypass"),), {"rate_unit": "lambda", "name": "learned"}).rate_points_for_qps([22])


def test_storage_keys_name_the_unit():
    assert artifact_key("llama3", "csr", "recon", label="av1", rate_point=33, rate_unit="crf") == "llama3/csr/av1/crf33/recon/"
    assert artifact_key("llama3", "csr", "recon", label="x265", rate_point=32) == "llama3/csr/x265/qp32/recon/"
    assert rate_tag(0.01, "lambda") == "lambda0.01" and rate_tag(37) == "qp37"
    with pytest.raises(StorageKeyError):
        rate_tag(33, "c/rf")


def test_storage_keys_hold_a_chain_label_as_the_sweep_folders_do():
    """A pipeline with a storage_uri failed to publish x265+side/6b (a '/' in a key segment)."""
    from fcbench.codecs import chain

    label = chain.label("x265", {"outliers": True, "outlier_bits": 6})
    assert label == "x265+side/6b"
    key = artifact_key("llama3", "csr", "recon", label=label, rate_point=32)
    assert key == f"llama3/csr/{chain.folder(label)}/qp32/recon/" == "llama3/csr/x265+side-6b/qp32/recon/"
    with pytest.raises(StorageKeyError, match="not a safe file name"):
        artifact_key("llama3", "csr", "recon", label="../x265", rate_point=32)


def test_integer_codec_options_survive_kfp_loop_items():
    """KFP hands loop-item dicts back with floats for ints: an av1 preset 6 arrives as 6.0."""
    from fcbench.codecs import get_codec
    from fcbench.components.codec_identity import identity_hash
    from fcbench.components.stages.params import restore_codec_options

    restored = restore_codec_options("av1", {"preset": 6.0, "extra_params": "enable-cdef=0"})
    assert restored == {"preset": 6, "extra_params": "enable-cdef=0"} and isinstance(restored["preset"], int)
    same = get_codec("av1", preset=6, extra_params="enable-cdef=0")
    assert identity_hash(get_codec("av1", **restored).identity) == identity_hash(same.identity)
    assert restore_codec_options("x265", {"preset": "slow", "threads": 2.0}) == {"preset": "slow", "threads": 2}
    assert restore_codec_options("av1", {"preset": 6.5}) == {"preset": 6.5}  # not integral: the codec refuses it
    assert restore_codec_options("klt", {"table": "t.npz", "match_window": 64.0, "rdoq": 1.0}) == \
        {"table": "t.npz", "match_window": 64, "rdoq": 1.0}  # Optional[int] comes back; a float option stays


def test_report_rows_say_what_the_rate_point_is(tmp_path):
    from fcbench.components.reporting import RDPoint, build_report

    def point(codec, rp, unit, bpfp, acc):
        return RDPoint(model="m", task="t", label=codec, rate_point=rp, bpfp=bpfp, ebpfp=bpfp, metric="top1",
                       metric_value=acc, direction="higher", feature_mse=0.1, params={"rate_unit": unit})

    pts = [point("x265", q, "qp", b, a) for q, b, a in ((22, 2.0, 80), (32, 1.0, 70), (42, 0.5, 60), (47, 0.3, 50))]
    pts += [point("av1", c, "crf", b, a) for c, b, a in ((16, 1.8, 80), (33, 0.9, 70), (50, 0.45, 60), (59, 0.25, 50))]
    text = build_report(pts, tmp_path, anchor="x265").markdown.read_text()
    assert "| av1 | crf 33 |" in text and "| x265 | qp 32 |" in text
