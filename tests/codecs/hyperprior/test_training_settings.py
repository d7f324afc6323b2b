"""Training settings: one definition, and unset settings mean the test conditions (issue: the
pipelines' crop/batch defaults used to override them)."""
import argparse

import pytest

from fcbench.codecs.conditions import load_conditions
from fcbench.codecs.hyperprior import training_settings
from fcbench.codecs.hyperprior.training_settings import TRAINING_SETTINGS, resolve, unset_values

# The paper's training conditions per task: epochs, batch, crop, Adam lr, lambdas.
PAPER = {
    ("llama3", "csr"): (200, 40, [64, 4096], 1e-4, [0.01405, 0.0142, 0.015, 0.07, 10]),
    ("dinov2", "cls"): (800, 128, [256, 256], 1e-4, [0.001, 0.0017, 0.003, 0.0035, 0.01]),
    ("dinov2", "seg"): (800, 128, [256, 256], 1e-4, [0.0005, 0.001, 0.003, 0.007, 0.015]),
    ("dinov2", "dpt"): (200, 128, [256, 256], 1e-4, [0.001, 0.005, 0.02, 0.05, 0.12]),
    ("sd3", "tti"): (60, 32, [512, 512], 1e-4, [0.005, 0.01, 0.02, 0.05, 0.2]),
}


@pytest.mark.parametrize("key", PAPER)
def test_the_conditions_table_holds_the_paper_values(key):
    learned = load_conditions().get(*key).learned
    assert (learned.epochs, learned.batch, list(learned.crop), learned.lr, learned.lambdas) == PAPER[key]


def _effective(key, given):
    values, _ = resolve(given, load_conditions().get(*key).learned)
    return values["epochs"], values["batch_size"], values["crop"], values["lr"]


def _pipeline_defaults(name):
    from fcbench.pipelines.commands.kfp import load_pipeline

    inputs = load_pipeline(name).component_spec.inputs
    return {s.name: inputs[s.name].default for s in TRAINING_SETTINGS}


@pytest.mark.parametrize("key", PAPER)
@pytest.mark.parametrize("where", ["full", "train_hyperprior", "component", "python", "cli"])
def test_defaults_everywhere_are_the_test_conditions(key, where):
    """What each entry point passes when the user sets nothing trains with the paper's values."""
    if where in ("full", "train_hyperprior"):
        given = _pipeline_defaults(where)
    elif where == "component":
        from fcbench.components.stages.hyperprior_train import hyperprior_train

        inputs = hyperprior_train.component_spec.inputs
        given = {s.name: inputs[s.name].default for s in TRAINING_SETTINGS}
    elif where == "python":
        given = {}
    else:
        from fcbench.pipelines.commands.options import add_training_flags, training_flags

        parser = argparse.ArgumentParser()
        add_training_flags(parser)
        given = training_flags(parser.parse_args([]))
    assert _effective(key, given) == PAPER[key][:4]


def test_pipeline_lambdas_default_to_the_test_conditions():
    from fcbench.components.stages.prepare_coding import default_rate_points

    for name in ("full", "train_hyperprior"):
        from fcbench.pipelines.commands.kfp import load_pipeline

        assert load_pipeline(name).component_spec.inputs["lambdas"].default == []
    for (model, task), paper in PAPER.items():
        assert default_rate_points(model, task, "learned") == paper[4]


def test_every_entry_point_takes_exactly_the_defined_settings():
    import inspect

    from fcbench.codecs.hyperprior.training import train
    from fcbench.components.stages.hyperprior_train import hyperprior_train
    from fcbench.pipelines.commands.kfp import load_pipeline

    names = [s.name for s in TRAINING_SETTINGS]
    params = inspect.signature(train).parameters
    assert all(params[n].default is None for n in names), "train(): every setting defaults to None (= unset)"
    inputs = hyperprior_train.component_spec.inputs
    assert {n: inputs[n].default for n in names} == unset_values()
    for pipeline in ("full", "train_hyperprior"):
        assert _pipeline_defaults(pipeline) == unset_values()
        assert set(names) <= set(load_pipeline(pipeline).component_spec.inputs)


def test_given_settings_win_and_say_so():
    learned = load_conditions().get("llama3", "csr").learned
    values, source = resolve({"batch_size": 8, "crop": [128, 4096], "steps": 5}, learned)
    assert values["batch_size"] == 8 and values["crop"] == [128, 4096] and values["lr"] == 1e-4
    assert values["epochs"] is None and values["steps"] == 5  # steps alone bound the training
    assert source["batch_size"] == "given" and source["lr"] == "test conditions" and source["seed"] == "default"


def test_without_conditions_the_fallbacks_apply_and_bad_values_are_named():
    values, source = resolve({"steps": 3}, None)
    assert (values["crop"], values["batch_size"], values["lr"]) == ([256, 256], 8, 1e-4)
    assert source["crop"] == "default"
    with pytest.raises(ValueError, match="give epochs or steps"):
        resolve({}, None)
    with pytest.raises(ValueError, match="unknown training setting"):
        resolve({"batch": 3}, None)
    with pytest.raises(ValueError, match="crop must be"):
        resolve({"crop": [64], "steps": 1}, None)
    with pytest.raises(ValueError, match="evaluate"):
        resolve({"evaluate": "middle", "steps": 1}, None)


def test_pick_takes_the_settings_from_a_parameter_mapping():
    params = {**unset_values(), "model": "m", "task": "t"}
    assert training_settings.pick(params) == unset_values()


@pytest.mark.parametrize("crop", [[32, 32], [64, 96], [0, 64]])
def test_a_crop_the_model_cannot_take_is_named_with_the_minimum(crop):
    """#24 item 9: --crop 32 32 failed deep in torch ("size of tensor a (2) must match ... (4)")."""
    with pytest.raises(ValueError, match="multiples of 64.*at least 64x64"):
        resolve({"crop": crop, "steps": 1}, None)
