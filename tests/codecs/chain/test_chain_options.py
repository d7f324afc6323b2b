"""Chain specs (codecs/chain.py): checking, merging into conditions, labels, descriptions."""
import pytest

from fcbench.codecs import chain
from fcbench.codecs.chain import fitted_ranges
from fcbench.codecs.features.synthetic import heavy_tailed

PAPER = {"low": -5, "high": 5, "truncate": True, "bit_depth": 10, "layout": "llama3", "quant": "round"}


def test_the_empty_spec_is_the_paper_chain():
    assert chain.apply(PAPER, {}) == PAPER and chain.apply(PAPER, None) == PAPER
    assert chain.label("x265", {}) == "x265"
    assert chain.describe(PAPER) == {"chain.ranges": "[-5, 5]", "chain.outliers": False}


def test_side_channel_and_fitted_ranges(tmp_path):
    path = tmp_path / "r.json"
    fitted_ranges.save(fitted_ranges.fit([heavy_tailed("massive", 40, 16)], axis=3, tail=0.01), path)
    spec = {"outliers": True, "outlier_bits": 6, "outlier_fill": "clip", "ranges": str(path)}
    conds = chain.apply(PAPER, spec)
    assert conds["range_axis"] == 3 and len(conds["low"]) == 16 and conds["outlier_bits"] == 6
    assert chain.label("x265", spec) == "x265+fitted+side/6b/clip"
    assert chain.label("av1", {"outliers": True}) == "av1+side"
    described = chain.describe(conds)
    assert described["chain.outliers"] is True and described["chain.outlier_bits"] == 6
    assert described["chain.ranges"].startswith("16 ranges on axis 3 (sha256 ")
    assert chain.describe({**PAPER, "outliers": True})["chain.outlier_bits"] == 10


@pytest.mark.parametrize("spec,message", [
    ({"outlier": True}, r"unknown chain option\(s\) \['outlier'\]"),
    ({"outlier_fill": "clip"}, "need outliers: true"),
])
def test_bad_specs_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        chain.apply(PAPER, spec)
