"""`fcbench extract` / `fcbench evaluate` through `main(argv)`."""
from __future__ import annotations

import json

import pytest

from fcbench.pipelines.cli import main
from fcbench.pipelines.commands.machines import parse_options


def test_parse_options():
    assert parse_options(["num_heads=4", "blocks=[0,3]", "device=cpu", "x=0.5"]) == {"num_heads": 4, "blocks": [0, 3], "device": "cpu", "x": 0.5}
    with pytest.raises(ValueError, match="key=value"):
        parse_options(["oops"])


def test_extract_then_evaluate(cls_assets, tmp_path, capsys):
    base = ["--model", "dinov2", "--task", "cls", "--weights", str(cls_assets["weights"]), "--data", str(cls_assets["data"]),
            "--sample-list", str(cls_assets["sample_list"]), "--device", "cpu", "--option", "num_heads=4", "--no-progress"]
    out = tmp_path / "fs"
    assert main(["extract", *base, "--out", str(out), "--limit", "2", "--batch-size", "2"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert json.loads((out / "manifest.json").read_text())["task"] == "cls"
    report = tmp_path / "eval.json"
    assert main(["evaluate", *base, "--features", str(out), "--reference", str(out), "--out", str(report)]) == 0
    said = capsys.readouterr().out.strip()  # with --out: one line, the document in the file
    assert said == f"dinov2/cls uncompressed: top1 100 (higher is better) on 2 samples -> {report}"
    written = json.loads(report.read_text())
    assert written["primary"] == "top1" and written["metrics"]["top1"]["value"] == 100.0
    assert written["feature_mse"] == 0.0 and len(written["per_sample"]) == 2
    assert main(["evaluate", *base, "--features", str(out), "--reference", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == written  # without --out: the document on stdout


def test_errors_are_reported_not_raised(cls_assets, tmp_path, capsys):
    rc = main(["evaluate", "--model", "dinov2", "--task", "cls", "--weights", str(cls_assets["weights"]), "--data", str(cls_assets["data"]),
               "--features", str(tmp_path / "none")])
    assert rc == 1 and "manifest.json is missing" in capsys.readouterr().err
    rc = main(["extract", "--model", "dinov2", "--task", "nope", "--weights", "w", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert rc == 2 and "no test conditions for model 'dinov2' task 'nope'" in capsys.readouterr().err  # a usage error
    rc = main(["evaluate", "--model", "dinov2", "--task", "cls", "--data", str(tmp_path), "--features", str(tmp_path)])
    assert rc == 2 and "--weights is required" in capsys.readouterr().err


def _base(cls_assets) -> list[str]:
    return ["--model", "dinov2", "--task", "cls", "--weights", str(cls_assets["weights"]), "--data", str(cls_assets["data"]),
            "--device", "cpu", "--option", "num_heads=4", "--no-progress"]


def test_extract_with_an_empty_sample_list_is_an_error(cls_assets, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    rc = main(["extract", *_base(cls_assets), "--sample-list", str(empty), "--out", str(tmp_path / "fs")])
    assert rc == 1 and f"sample list {empty} names no samples" in capsys.readouterr().err
    assert not (tmp_path / "fs").exists()
    rc = main(["extract", *_base(cls_assets), "--sample-list", str(cls_assets["sample_list"]), "--limit", "0",
               "--out", str(tmp_path / "fs")])
    assert rc == 1 and "limit must be >= 1" in capsys.readouterr().err


def test_evaluate_refuses_a_non_finite_reconstruction_naming_the_sample(cls_assets, tmp_path, capsys):
    from tests.codecs.features.manifest_edits import poison_with_nan

    out = tmp_path / "fs"
    assert main(["extract", *_base(cls_assets), "--sample-list", str(cls_assets["sample_list"]), "--limit", "2",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    bad = json.loads((out / "manifest.json").read_text())["samples"][1]["id"]
    poison_with_nan(out, bad)
    rc = main(["evaluate", *_base(cls_assets), "--sample-list", str(cls_assets["sample_list"]), "--features", str(out),
               "--out", str(tmp_path / "eval.json")])
    captured = capsys.readouterr()
    assert rc == 1 and captured.out == ""
    assert f"sample {bad!r}" in captured.err and "non-finite values (1 NaN, 0 Inf)" in captured.err
    assert not (tmp_path / "eval.json").exists()
