"""Chain options on the command line: `fcbench ranges fit|show` and `fcbench encode --outliers
--outlier-bits --outlier-fill --ranges`, through the real CLI entry point."""
from __future__ import annotations

import json

import pytest

from fcbench.codecs import FeatureSet, unpack_container
from fcbench.codecs.features.synthetic import heavy_tailed
from fcbench.pipelines.cli import main


def featureset(root, seeds):
    fs = FeatureSet.create(root, model="llama3", task="csr", split_point="synthetic")
    for s in seeds:
        fs.write(f"s{s}", heavy_tailed("massive", 48, 32, seed=s))
    return fs


def encode(features, out, *extra) -> dict:
    argv = ["encode", "--features", str(features), "--codec", "bypass", "--rate-points", "0", "--out", str(out),
            "-j", "1", "--no-progress", *extra]
    assert main(argv) == 0
    return json.loads((out / "results.json").read_text())


def test_fit_show_and_encode_with_the_chain_options(tmp_path, capsys):
    train, test = featureset(tmp_path / "train", [1, 2]), featureset(tmp_path / "test", [3])
    table = tmp_path / "ranges.json"
    assert main(["ranges", "fit", "--features", str(train.root), "--out", str(table), "--tail", "0.001"]) == 0
    assert "32 range(s) on axis 3, tail 0.001, fitted on 2 sample(s)" in capsys.readouterr().out
    assert main(["ranges", "show", str(table)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 33

    paper = encode(test.root, tmp_path / "paper")  # the csr test conditions: [-5, 5]
    assert "outliers" not in paper["conditions"] and paper["summary"][0]["side_bpfp"] == 0
    assert "chain: ranges [-5, 5], outliers False" in capsys.readouterr().out
    side = encode(test.root, tmp_path / "side", "--outliers", "--outlier-bits", "8", "--outlier-fill", "clip")
    assert "chain: ranges [-5, 5], outliers True, outlier_bits 8, outlier_fill clip" in capsys.readouterr().out
    assert side["conditions"]["outliers"] is True and side["conditions"]["outlier_bits"] == 8
    assert side["conditions"]["outlier_fill"] == "clip" and side["conditions"]["low"] == -5
    assert side["summary"][0]["side_bpfp"] > 0 and side["summary"][0]["mse"] < paper["summary"][0]["mse"] / 100
    paper_side = encode(test.root, tmp_path / "paper-side", "--preset", "paper", "--outliers")
    assert paper_side["preset"] == "paper" and paper_side["conditions"]["quant"] == "legacy"
    assert "note: preset paper codes with the chain {} (fixed ranges, no side channel); coding with {'outliers': True}" \
        in capsys.readouterr().err
    fitted = encode(test.root, tmp_path / "fitted", "--ranges", str(table), "--outliers")
    assert fitted["conditions"]["range_axis"] == 3 and len(fitted["conditions"]["low"]) == 32
    header, _ = unpack_container((tmp_path / "fitted" / "bitstreams" / "bypass+fitted+side" / "qp0" / "s3.bin").read_bytes())
    assert header.range_axis == 3 and header.outliers is not None


def test_two_chains_into_one_folder_add_up(tmp_path):
    test = featureset(tmp_path / "test", [3, 4])
    out = tmp_path / "out"
    encode(test.root, out)
    both = encode(test.root, out, "--outliers", "--outlier-bits", "6")
    by_label = {s["label"]: s for s in both["summary"]}
    assert set(by_label) == {"bypass", "bypass+side/6b"}  # the second sweep replaced nothing
    assert {s["codec"] for s in both["summary"]} == {"bypass"}  # the codec alone
    assert by_label["bypass"]["side_bpfp"] == 0 and by_label["bypass+side/6b"]["side_bpfp"] > 0
    assert sorted(p.name for p in (out / "recon").iterdir()) == ["bypass", "bypass+side-6b"]
    assert FeatureSet.open(out / "recon" / "bypass+side-6b" / "qp0").meta["label"] == "bypass+side/6b"
    assert (out / "bitstreams" / "bypass" / "qp0" / "s3.bin").is_file()
    assert encode(test.root, out)["summary"] == both["summary"]  # a rerun of the first is all cache hits


@pytest.mark.parametrize("extra,message", [
    (["--outlier-bits", "6"], "outlier_bits/outlier_fill need outliers: true"),
    (["--ranges", "RANGES", "--low", "-1", "--high", "1"], "give --ranges or --low/--high, not both"),
    (["--ranges", "MISSING"], "MISSING does not exist"),
    (["--outliers", "--no-truncate"], "needs a truncation range"),
])
def test_bad_chain_options_are_one_line_errors(tmp_path, capsys, extra, message):
    test = featureset(tmp_path / "test", [3])
    (tmp_path / "RANGES").write_text("{}")
    extra = [str(tmp_path / e) if e in ("RANGES", "MISSING") else e for e in extra]
    argv = ["encode", "--features", str(test.root), "--codec", "bypass", "--rate-points", "0",
            "--out", str(tmp_path / "o"), "-j", "1", "--no-progress", *extra]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
