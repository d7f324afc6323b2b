"""The pipeline stages under a preset: conditions, results and the report name it."""
from __future__ import annotations

import json

import numpy as np

from fcbench.codecs import FeatureSet
from fcbench.components.reporting import RDPoint
from fcbench.components.stages.prepare_coding import prepare, resolve_conditions
from fcbench.components.stages.report import make_report


def test_prepare_coding_under_the_paper_preset(tmp_path):
    fs = FeatureSet.create(tmp_path / "f", "dinov2", "cls", "block 40")
    fs.write("a", np.random.default_rng(0).normal(0, 9, (1, 1, 257, 32)).astype(np.float32))
    assert resolve_conditions("dinov2", "cls", "traditional", "", {}, "paper")["quant"] == "legacy"
    assert resolve_conditions("dinov2", "cls", "traditional", "", {}, "")["quant"] == "round"
    conditions, grid, summary = prepare(str(fs.root), "dinov2", "cls", "traditional", "", "{}",
                                        [{"codec": "x265", "identity_hash": "h"}], [32], str(tmp_path / "q"),
                                        str(tmp_path / "results.json"), preset="paper")
    assert conditions["quant"] == "legacy" and json.loads(grid[0]["conditions"])["quant"] == "legacy"
    body = json.loads((tmp_path / "results.json").read_text())
    assert body["preset"] == "paper" and summary["preset"] == "paper"


def test_report_labels_points_and_takes_the_presets_anchor(tmp_path):
    files = []
    for codec, scale in (("vtm", 1.0), ("x265", 1.2)):
        for i, (q, b) in enumerate(((22, 0.8), (32, 0.4), (42, 0.1))):
            p = RDPoint(model="dinov2", task="cls", label=codec, rate_point=q, bpfp=b * scale, ebpfp=b * scale,
                        metric="top1", metric_value=50 + 40 * b, direction="higher", feature_mse=0.1)
            files.append(tmp_path / f"{codec}{i}.json")
            files[-1].write_text(json.dumps(p.as_dict()))
    make_report([str(f) for f in files], str(tmp_path / "r"), "", "", "", {}, preset="paper")
    text = (tmp_path / "r" / "report.md").read_text()
    assert "Preset: `paper`" in text and "BD-rate vs vtm" in text
    bd = json.loads((tmp_path / "r" / "bdrate.json").read_text())
    assert bd["anchor"] == "vtm" and bd["preset"] == "paper"
