"""The model's configuration travels with its weights and its features (#22 item 4): the head
count of a non-published backbone is read from beside its .pth (the weights do not hold it), a
feature set records what extracted it, every reconstruction carries that on, and evaluate refuses
a second half that does not match instead of exiting 0 with a wrong score."""
from __future__ import annotations

import json

import pytest

from fcbench.codecs import FeatureSet
from fcbench.codecs.features.featureset import FeatureSetError
from fcbench.codecs.sweeps.run import run_sweep
from fcbench.machines import get_machine
from fcbench.machines.dinov2.checkpoints import ARCH_FILE, CheckpointError


def test_the_head_count_is_read_from_beside_the_weights(cls_assets):
    assert json.loads((cls_assets["weights"] / ARCH_FILE).read_text()) == {"num_heads": 4}
    machine = get_machine("dinov2", "cls", weights=cls_assets["weights"], progress=False)  # no num_heads option
    assert machine.backbone.num_heads == 4


def test_features_record_their_model_and_evaluate_refuses_another(cls_assets, cls_features, tmp_path):
    fs = FeatureSet.open(cls_features)
    assert fs.meta["extracted_by"]["num_heads"] == 4 and fs.meta["extracted_by"]["embed_dim"] == 64
    run_sweep(cls_features, "bypass", {}, [0], {"low": -20, "high": 20, "layout": "dinov2"}, tmp_path / "sweep",
              jobs=1, progress=False)
    recon = next((tmp_path / "sweep" / "recon").glob("*/*"))
    assert FeatureSet.open(recon).meta["extracted_by"] == fs.meta["extracted_by"]
    wrong = get_machine("dinov2", "cls", weights=cls_assets["weights"], progress=False, num_heads=2)
    for features in (cls_features, recon):
        with pytest.raises(FeatureSetError, match="extracted by another dinov2 model: num_heads 4 .features. vs 2"):
            wrong.evaluate(features, cls_assets["data"], sample_list=cls_assets["sample_list"])


def test_a_bad_architecture_file_is_named(cls_assets, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    for f in cls_assets["weights"].iterdir():
        (weights / f.name).write_bytes(f.read_bytes())
    (weights / ARCH_FILE).write_text('{"num_heads": 0}')
    with pytest.raises(CheckpointError, match="num_heads must be a positive integer"):
        get_machine("dinov2", "cls", weights=weights, progress=False).backbone
