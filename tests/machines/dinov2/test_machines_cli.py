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
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(report.read_text())
    assert printed["primary"] == "top1" and printed["metrics"]["top1"]["value"] == 100.0
    assert printed["feature_mse"] == 0.0 and len(printed["per_sample"]) == 2


def test_errors_are_reported_not_raised(cls_assets, tmp_path, capsys):
    rc = main(["evaluate", "--model", "dinov2", "--task", "cls", "--weights", str(cls_assets["weights"]), "--data", str(cls_assets["data"]),
               "--features", str(tmp_path / "none")])
    assert rc == 1 and "manifest.json is missing" in capsys.readouterr().err
    rc = main(["extract", "--model", "dinov2", "--task", "nope", "--weights", "w", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert rc == 1 and "no machine for model 'dinov2' task 'nope'" in capsys.readouterr().err
