"""The training stage trains with the test conditions when nothing is set, and logs the effective
settings (and where each came from) as MLflow params."""
import json

import numpy as np
import pytest

from fcbench.codecs.features.featureset import FeatureSet


@pytest.mark.slow  # trains on 64x4096 crops and logs to an MLflow sqlite store
def test_unset_settings_train_csr_with_its_conditions_and_are_logged(tmp_path):
    from mlflow import MlflowClient

    from fcbench.components.stages.hyperprior_train import train_model

    rng = np.random.default_rng(0)
    fs = FeatureSet.create(tmp_path / "csr", "llama3", "csr", "decoder layer 32")
    for i in range(2):  # 64 tokens: one 64 x 4096 crop per frame
        fs.write(f"q{i}", rng.normal(0, 1, (1, 1, 64, 4096)).astype(np.float32), origin_dtype="bfloat16")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    # What the pipelines pass when the user sets nothing (their defaults), except a 1-step cap
    # and a tiny network to keep the test short.
    info = train_model(str(fs.root), "llama3", "csr", 0.015, str(tmp_path / "model.pt"), str(tmp_path / "curves"),
                       "cpu", uri, "", crop=[], epochs=0, steps=1, batch_size=0, lr=0.0, seed=0, N=8, M=8,
                       evaluate="last")
    assert info["settings"]["crop"] == [64, 4096] and info["settings"]["batch_size"] == 40
    assert info["settings"]["lr"] == 1e-4
    assert info["settings_source"]["batch_size"] == "test conditions"
    run = MlflowClient(tracking_uri=uri).search_runs(
        [MlflowClient(tracking_uri=uri).get_experiment_by_name("fcbench/llama3/csr").experiment_id])[0]
    params = run.data.params
    assert json.loads(params["crop"]) == [64, 4096] and params["batch_size"] == "40" and params["lr"] == "0.0001"
    assert json.loads(params["settings_source"])["crop"] == "test conditions"
    assert json.loads(params["settings"])["batch_size"] == 40
