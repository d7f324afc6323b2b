"""The machines through the options other layers pass: the `fcbench extract/evaluate` CLI,
evaluation restricted to a sample list, training inputs read from a folder."""
import json

import numpy as np
import pytest

from fcbench.codecs.features.featureset import FeatureSet
from fcbench.machines import get_machine
from fcbench.machines.text import DataError


def test_cli_extract_and_evaluate_llama(llama_assets, llama_features, tmp_path, capsys):
    from fcbench.pipelines.cli import main

    common = ["--model", "llama3", "--task", "csr", "--weights", str(llama_assets["weights"]), "--data", str(llama_assets["data"]),
              "--sample-list", str(llama_assets["sample_list"]), "--device", "cpu", "--option", "dtype=float32", "--no-progress"]
    assert main(["extract", *common, "--out", str(tmp_path / "fs")]) == 0
    fs = FeatureSet.open(tmp_path / "fs")
    assert fs.ids == llama_features.ids
    assert all(np.array_equal(fs.read(i), llama_features.read(i)) for i in fs.ids)
    capsys.readouterr()
    assert main(["evaluate", *common, "--features", str(tmp_path / "fs"), "--reference", str(llama_features.root)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["primary"] == "accuracy" and body["metrics"]["accuracy"]["value"] == 100.0 and body["feature_mse"] == 0.0
    assert main(["extract", *common, "--batch-size", "4", "--out", str(tmp_path / "fs2")]) != 0
    assert "one at a time" in capsys.readouterr().err


def test_evaluate_on_a_sample_list(llama, llama_features, llama_assets):
    ids = llama_features.ids[1:3]
    ev = llama.evaluate(llama_features, llama_assets["data"], sample_list=ids)
    assert [r["id"] for r in ev.per_sample] == ids
    with pytest.raises(DataError, match="MISSING_7"):
        llama.evaluate(llama_features, llama_assets["data"], sample_list=[ids[0], "MISSING_7"])


def test_training_inputs_from_a_folder(llama, sd3, tmp_path):
    folder = tmp_path / "train"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "part1.jsonl").write_text(json.dumps({"id": "t1", "text": "Some training text."}) + "\n")
    (folder / "part2.jsonl").write_text(json.dumps({"id": "t2", "prompt": "More text here."}) + "\n")
    fs = llama.extract(folder, tmp_path / "llama_train", source="folder")
    assert sorted(fs.ids) == ["t1", "t2"]
    assert fs.info("t1").shape[2] == llama.tokenize("Some training text.").shape[1]
    caps = tmp_path / "caps"
    caps.mkdir()
    (caps / "c.txt").write_text("img_1.jpg a dog on a red bus\nimg_2.jpg a kitchen\nimg_3.jpg a man\n")
    fs = sd3.extract(caps, tmp_path / "sd3_train", source="folder")
    assert fs.ids == ["img_1", "img_2", "img_3"] and fs.info("img_3").extra["batch_index"] == 1
    with pytest.raises(DataError, match="source must be"):
        llama.extract(folder, tmp_path / "x", source="bogus")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no"):
        sd3.extract(tmp_path / "empty", tmp_path / "y", source="folder")


def test_sd3_accepts_the_cli_batch_size(sd3_assets):
    m = get_machine("sd3", "tti", weights=sd3_assets["weights"], **dict(sd3_assets["options"], batch_size=4, progress=False))
    assert m.settings["batch"] == 4
