"""Chain options through the pipeline stages: the codec x rate-point grid merges a codec
entry's chain into its conditions and labels it; RD points name the chain; the report lists it."""
from __future__ import annotations

import json

import pytest

from fcbench.codecs.chain import fitted_ranges
from fcbench.codecs.features.synthetic import heavy_tailed
from fcbench.components.rd_join import chain_params
from fcbench.components.reporting import RDPoint, render_markdown
from fcbench.components.stages.prepare_coding import rate_grid, resolve_conditions

PAPER = resolve_conditions("llama3", "csr", "traditional", "", {})


def test_grid_items_carry_chain_conditions_and_labels(tmp_path):
    table = tmp_path / "ranges.json"
    fitted_ranges.save(fitted_ranges.fit([heavy_tailed("massive", 40, 16)], axis=3, tail=0.01), table)
    codecs = [{"codec": "x265", "identity_hash": "h"},
              {"codec": "x265", "identity_hash": "h", "chain": {"outliers": True}},
              {"codec": "x265", "identity_hash": "h", "chain": {"ranges": str(table), "outliers": True}}]
    grid = rate_grid(codecs, [22, 32], "llama3", "csr", "traditional", PAPER)
    assert [(g["label"], g["rate_point"]) for g in grid] == [
        ("x265", 22), ("x265", 32), ("x265+side", 22), ("x265+side", 32), ("x265+fitted+side", 22), ("x265+fitted+side", 32)]
    plain, side, fitted = (json.loads(grid[i]["conditions"]) for i in (0, 2, 4))
    assert plain == PAPER  # the paper's chain, unchanged
    assert side == {**PAPER, "outliers": True}
    assert fitted["range_axis"] == 3 and len(fitted["low"]) == 16 and fitted["outliers"] is True


@pytest.mark.parametrize("codecs,message", [
    ([{"codec": "x265", "identity_hash": "h"}, {"codec": "x265", "identity_hash": "h2"}], "both 'x265'"),
    ([{"codec": "x265", "identity_hash": "h", "chain": {"outlier": True}}], "unknown chain option"),
    ([{"codec": "x265", "identity_hash": "h", "chain": {"ranges": "/nowhere/r.json"}}], "does not exist"),
])
def test_bad_grids_are_named(codecs, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        rate_grid(codecs, [22], "llama3", "csr", "traditional", PAPER)


def point(codec: str, params: dict, rate_point=22, bpfp=1.0) -> RDPoint:
    return RDPoint(model="llama3", task="csr", label=codec, rate_point=rate_point, bpfp=bpfp, ebpfp=2 * bpfp,
                   metric="accuracy", metric_value=50.0, direction="higher", feature_mse=0.1, params=params)


def test_points_name_their_chain_and_the_report_lists_it():
    assert chain_params(None) == {}
    assert chain_params(PAPER) == {"chain.ranges": "[-5, 5]", "chain.outliers": False}
    side = chain_params({**PAPER, "outliers": True})
    assert side["chain.outliers"] is True and side["chain.outlier_bits"] == 10 and side["chain.outlier_fill"] == "median"
    text = render_markdown([point("x265", chain_params(PAPER)), point("x265+side", side)], [], [], "t", {})
    assert "| x265 | [-5, 5] | off |" in text
    assert "| x265+side | [-5, 5] | on: 10-bit values, median fill |" in text
    # Points read back from MLflow carry params as strings.
    text = render_markdown([point("x265+side", {k: str(v) for k, v in side.items()})], [], [], "t", {})
    assert "| x265+side | [-5, 5] | on: 10-bit values, median fill |" in text
    assert "Coding chains" not in render_markdown([point("x265", {})], [], [], "t", {})
