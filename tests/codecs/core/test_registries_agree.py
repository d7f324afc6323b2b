"""Lists that name the same things must agree (#21 item 3): a layout added to packing but not to
the container (or the other way), a codec module that registers another name, a test condition
without a machine, each fail here with the list to fix."""
from __future__ import annotations

import importlib

from fcbench.codecs import registry
from fcbench.codecs.chain import container, packing
from fcbench.codecs.conditions import load_conditions


def test_every_layout_packs_unpacks_sizes_and_has_a_container_code():
    names = set(packing.LAYOUTS)
    assert set(packing._UNPACK) == names and set(packing._FRAME_SIZE) == names
    assert set(container.LAYOUT_CODES) == names, "add the layout to container.LAYOUT_CODES (at the end)"


def test_container_codes_are_never_reordered():
    """A code is a position written into every container ever made: new names go at the end."""
    assert container.LAYOUT_CODES[:4] == ("llama3", "dinov2", "sd3", "generic")
    assert container.DTYPES[:4] == ("float32", "float16", "bfloat16", "float64")
    assert container.TRANSFORMS[:5] == ("uniform", "legacy", "nonlinear", "normalize", "none")


def test_every_built_in_codec_module_registers_its_name():
    for name, module in registry.BUILT_IN.items():
        importlib.import_module(module)
        assert registry.codec_class(name).__module__ == module, f"{module} does not register {name!r}"
    assert set(registry.BUILT_IN) <= set(registry.codec_names())


def test_every_test_condition_has_a_machine_and_a_layout():
    from fcbench.machines.base import machine_names

    conditions = {(t.model, t.task) for t in load_conditions().tasks}
    assert conditions == set(machine_names()), "machines/ and codecs/conditions.yaml name different (model, task)s"
    assert {t.layout for t in load_conditions().tasks} <= set(packing.LAYOUTS)
