"""Every pipeline's signature agrees with the one parameter table (pipelines/parameters.py)."""
import pytest

from fcbench.pipelines.commands.kfp import PIPELINES, load_pipeline
from fcbench.pipelines.parameters import DEFAULTS, PARAMETERS

KFP_TYPES = {str: "String", int: "Integer", float: "Float", bool: "Boolean", list: "List", dict: "Dict"}


@pytest.mark.parametrize("name", list(PIPELINES))
def test_pipeline_parameters_are_the_defined_ones(name):
    inputs = load_pipeline(name).component_spec.inputs
    unknown = sorted(set(inputs) - set(PARAMETERS))
    assert not unknown, f"pipeline {name} has parameters outside pipelines/parameters.py: {unknown}"
    for pname, spec in inputs.items():
        definition = PARAMETERS[pname]
        assert spec.type == KFP_TYPES[definition.type], f"{name}.{pname}: type {spec.type}"
        if definition.default is not None:  # None: computed where the pipeline is built (codecs)
            assert spec.default == definition.default, f"{name}.{pname}: default {spec.default!r}"


def test_defaults_are_fresh_copies():
    crop = DEFAULTS["crop"]
    crop.append(1)
    assert DEFAULTS["crop"] == []
