"""The test conditions as typed data match docs/test-conditions.md."""
import hashlib
import json
from importlib import resources

import pytest

from fcbench.codecs.conditions import coding_conditions, load_conditions
from fcbench.pipelines.cli import main


def test_every_task_is_present_with_its_facts():
    tc = load_conditions()
    assert {(t.model, t.task) for t in tc.tasks} == {
        ("dinov2", "cls"), ("dinov2", "seg"), ("dinov2", "dpt"), ("llama3", "csr"), ("sd3", "tti")}
    dpt = tc.get("dinov2", "dpt")
    assert dpt.traditional.low == [-1, -2, -10, -20] and dpt.learned.high == [1, 2, 10, 10]
    assert dpt.feature_shape == (2, 4, 1611, 1536)
    assert tc.get("llama3", "csr").learned.crop == (64, 4096)
    assert tc.get("sd3", "tti").learned.lambdas == [0.005, 0.01, 0.02, 0.05, 0.2]
    assert all(t.traditional.qps == [22, 27, 32, 37, 42] for t in tc.tasks)
    assert tc.get("dinov2", "cls").metric.direction == "higher"
    assert tc.get("dinov2", "dpt").metric.direction == "lower"
    assert tc.version


def test_coding_conditions():
    tc = load_conditions().get("dinov2", "cls")
    assert coding_conditions(tc, "traditional") == {"low": -20, "high": 20, "truncate": True, "bit_depth": 10, "layout": "dinov2", "quant": "round"}
    assert coding_conditions(tc, "traditional", quantization="legacy")["quant"] == "legacy"
    assert coding_conditions(tc, "learned")["low"] == -5
    with pytest.raises(ValueError, match="family"):
        coding_conditions(tc, "neural")


def test_unknown_task_is_named():
    with pytest.raises(KeyError, match="no test conditions for model 'dinov2' task 'det'"):
        load_conditions().get("dinov2", "det")


def test_sample_lists_ship_with_their_sha256():
    data = resources.files("fcbench.codecs").joinpath("data/testsets")
    manifest = json.loads(data.joinpath("manifest.json").read_text())
    for t in load_conditions().tasks:
        if t.sample_list != "nyu_test.txt" or "nyu_test.txt" in manifest["files"]:
            assert t.sample_list in manifest["files"]
    for name, sha in manifest["files"].items():
        assert hashlib.sha256(data.joinpath(name).read_bytes()).hexdigest() == sha
    assert len(data.joinpath("imagenet_selected_label100.txt").read_text().split("\n")) >= 100


def test_cli_conditions(capsys):
    assert main(["conditions", "dinov2", "dpt"]) == 0
    out = capsys.readouterr().out
    assert "blocks 10/20/30/40" in out and "[22, 27, 32, 37, 42]" in out
    assert main(["conditions", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["tasks"]) == 5
    assert main(["conditions", "vgg", "cls"]) == 2  # an unknown model: a usage error
