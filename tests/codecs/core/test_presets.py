"""Presets as data: the fcbench defaults and the reference chain."""
from __future__ import annotations

import numpy as np
import pytest

from fcbench.codecs import FeatureSet, get_codec, load_conditions
from fcbench.codecs.chain.transforms import dequantize, quantize
from fcbench.codecs.presets import get_preset, load_presets, preset_names
from fcbench.codecs.sweeps.run import run_sweep


def test_the_two_presets():
    assert preset_names() == ["fcbench", "paper"]
    fc, paper = get_preset(), get_preset("paper")
    assert fc.name == "fcbench" and fc.quantization == "round" and fc.codec is None
    assert paper.quantization == "legacy" and paper.codec == "vtm" and paper.anchor == fc.anchor == "vtm"
    assert paper.vtm_cfg_sha256 == "5647353c1d7a5a64c4180afee1f7f5f902ada9198c08839baa972395a3dc1e34"
    tc = load_conditions().get("dinov2", "dpt")
    assert paper.conditions(tc, "traditional") == {"low": [-1, -2, -10, -20], "high": [1, 2, 10, 20], "truncate": True,
                                                   "bit_depth": 10, "layout": "dinov2", "quant": "legacy"}
    assert fc.conditions(tc, "traditional")["quant"] == "round"
    # one knob, both ways: the run's quantization replaces the preset's ("" keeps it)
    assert fc.conditions(tc, "traditional", quantization="legacy")["quant"] == "legacy"
    assert paper.conditions(tc, "traditional", quantization="round")["quant"] == "round"
    assert paper.conditions(tc, "traditional", quantization="")["quant"] == "legacy"
    with pytest.raises(ValueError, match="unknown quantization 'floor'"):
        fc.conditions(tc, "traditional", quantization="floor")
    assert paper.conditions(tc, "learned") == fc.conditions(tc, "learned")  # normalisation only, no quantizer
    with pytest.raises(KeyError, match="unknown preset 'papers'; known: fcbench, paper"):
        get_preset("papers")
    assert all(p.description for p in load_presets().values())
    assert fc.chain == paper.chain == {}  # the side channel and fitted ranges are opt-in


def test_paper_preset_codes_with_the_reference_floor(tmp_path):
    """The bypass point under `paper` reconstructs exactly the reference's floor quantization."""
    tc = load_conditions().get("dinov2", "cls")
    x = np.random.default_rng(0).normal(0, 8, (1, 1, 257, 64)).astype(np.float32)
    fs = FeatureSet.create(tmp_path / "f", "dinov2", "cls", "block 40")
    fs.write("a", x)
    conds = get_preset("paper").conditions(tc, "traditional")
    res = run_sweep(fs.root, "bypass", {}, [0], conds, tmp_path / "o", jobs=1, progress=False, preset="paper")
    assert res.preset == "paper" and res.rows[0]["preset"] == "paper" and res.summary[0]["preset"] == "paper"
    recon = FeatureSet.open(tmp_path / "o" / "recon" / "bypass" / "qp0").read("a")
    xt = np.clip(x, -20, 20)
    floor = dequantize(quantize(xt, -20, 20, 10, mode="legacy"), -20, 20, 10, mode="legacy")
    np.testing.assert_array_equal(recon, floor)
    rounded = get_codec("bypass").decode(get_codec("bypass").encode(x, 0, **get_preset().conditions(tc, "traditional")))
    assert np.mean(recon - xt) < np.mean(rounded - xt) - 0.01  # the floor's half-step bias
