"""`fcbench hyperprior train|split`, called through the real CLI entry point."""
from __future__ import annotations

import json

import pytest

from fcbench.codecs import FeatureSet, get_codec
from fcbench.pipelines.cli import main


@pytest.mark.slow  # trains
def test_split_then_train_then_code(peaky_set, tmp_path, capsys):
    assert main(["hyperprior", "split", "--features", str(peaky_set), "--out", str(tmp_path / "sets"),
                 "--val-fraction", "0.2", "--seed", "1"]) == 0
    assert "train:" in capsys.readouterr().out
    out = tmp_path / "model"
    argv = ["hyperprior", "train", "--features", str(tmp_path / "sets"), "--lambda", "0.01", "--out", str(out),
            "--steps", "4", "--batch", "4", "--crop", "64", "64", "--N", "8", "--M", "8", "--low", "-10",
            "--high", "10", "--layout", "generic", "--device", "cpu", "--crops-per-epoch", "8", "--quiet",
            "--evaluate", "best"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"checkpoint: {out / 'best.pt'} (best)" in text and "val_loss" in text
    assert (out / "curves.png").is_file()
    assert main(argv + ["--json", "--no-plot"]) == 0  # resumes: nothing left to train
    result = json.loads(capsys.readouterr().out)
    assert result["config"]["train_ids"] == FeatureSet.open(tmp_path / "sets" / "train").ids
    assert len(result["curves"]) == 2 and result["resumed_from_epoch"] == 2
    codec = get_codec("hyperprior", checkpoint=result["checkpoint"])
    x = FeatureSet.open(peaky_set).read("s00")
    y = codec.decode(codec.encode(x, 0.01, low=-10, high=10, layout="generic"))
    assert y.shape == x.shape


def test_errors_exit_1_with_the_reason(tmp_path, capsys):
    code = main(["hyperprior", "train", "--features", str(tmp_path / "none"), "--lambda", "0.01",
                 "--out", str(tmp_path / "o"), "--steps", "1"])
    assert code == 1
    assert "manifest.json is missing" in capsys.readouterr().err
    code = main(["hyperprior", "train", "--features", str(tmp_path / "none"), "--lambda", "0.01",
                 "--out", str(tmp_path / "o"), "--steps", "1", "--task", "nope"])
    assert code == 1 and "nope" in capsys.readouterr().err
