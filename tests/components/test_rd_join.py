"""The join of a sweep's rate rows and an evaluation into RD points (components/rd_join.py), on a
real x265 sweep; `fcbench report` reads both halves."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fcbench.codecs import FeatureSet
from fcbench.codecs.common.types import rate_tag
from fcbench.codecs.sweeps.run import run_sweep
from fcbench.components.rd_join import evaluation_doc, load_report_inputs, rd_point
from fcbench.machines.base import Evaluation, Metric
from fcbench.pipelines.cli import main
from tests.codecs.traditional.helpers import smooth_feature

COND = {"low": -20, "high": 20, "layout": "generic"}


@pytest.fixture
def sweep(tmp_path):
    with FeatureSet.create(tmp_path / "feat", "dinov2", "cls", "block 4") as fs:
        for i in range(3):
            fs.write(f"s{i}", smooth_feature((1, 1, 24, 64), seed=i, scale=10))
    run_sweep(fs.root, "x265", {}, [27, 37], COND, tmp_path / "out", jobs=1, progress=False, preset="fcbench")
    return tmp_path


def _evaluation(samples, value=50.0) -> Evaluation:
    return Evaluation([Metric("top1", value, "higher", "mean", "%")], [{"id": s} for s in samples])


def _results(root):
    path = root / "out" / "results.json"
    return [(str(path), json.loads(path.read_text()))]


def test_a_point_averages_the_rows_of_the_evaluated_samples_only(sweep):
    rows = [r for r in _results(sweep)[0][1]["rows"] if r["rate_point"] == 27]
    recon = sweep / "out" / "recon" / "x265" / rate_tag(27)
    doc = evaluation_doc("dinov2", "cls", recon, _evaluation(["s0", "s2"]))
    assert (doc["label"], doc["rate_point"], doc["samples"]) == ("x265", 27, ["s0", "s2"])
    point = rd_point(doc, _results(sweep))
    picked = [r for r in rows if r["sample"] in ("s0", "s2")]
    assert point.bpfp == pytest.approx(np.mean([r["bpfp"] for r in picked]))
    assert point.feature_mse == pytest.approx(np.mean([r["mse"] for r in picked]))
    assert point.feature_psnr == pytest.approx(np.mean([r["psnr_f"] for r in picked]))
    assert point.enc_s == pytest.approx(np.mean([r["enc_s"] for r in picked])) and point.enc_s > 0
    assert (point.samples, point.metric_value, point.preset, point.rate_point) == (2, 50.0, "fcbench", 27)
    assert point.tags["codec.name"] == "x265" and point.params["chain.ranges"] == "[-20, 20]"


def test_label_and_codec_apart_and_the_formats_before_still_read(sweep):
    """#21 item 1: a point's `label` is the codec and its chain, `codec` the codec alone; results
    (format 2) and evaluations (format 1) written when `codec` held the label still join."""
    from fcbench.components.rd_points import RDPoint

    recon = sweep / "out" / "recon" / "x265" / rate_tag(27)
    doc = evaluation_doc("dinov2", "cls", recon, _evaluation(["s0", "s2"]))
    new = rd_point(doc, _results(sweep))
    assert (new.label, new.codec) == ("x265", "x265")
    (source, results), = _results(sweep)
    old_results = {**results, "format": "fcbench-results/2",
                   "rows": [{k: v for k, v in r.items() if k != "label"} for r in results["rows"]],
                   "sets": [{k: v for k, v in e.items() if k != "label"} for e in results["sets"]]}
    old_doc = {k: v for k, v in {**doc, "format": "fcbench-evaluation/1"}.items() if k != "label"}
    old = rd_point(old_doc, [(source, old_results)])
    assert (old.label, old.codec, old.bpfp) == ("x265", None, new.bpfp)
    saved = {k: v for k, v in {**new.as_dict(), "codec": "x265+side"}.items() if k != "label"}  # an old rd_points.json
    assert (RDPoint.from_dict(saved).label, RDPoint.from_dict(saved).codec) == ("x265+side", None)


def test_the_uncompressed_point_needs_no_rate_rows(sweep):
    doc = evaluation_doc("dinov2", "cls", sweep / "feat", _evaluation(["s0", "s1", "s2"], 100.0))
    point = rd_point(doc)
    assert (point.label, point.bpfp, point.ebpfp, point.feature_mse, point.feature_psnr) == \
        ("uncompressed", 32.0, 32.0, 0.0, None)


def test_join_errors_name_what_is_missing(sweep):
    recon = sweep / "out" / "recon" / "x265" / rate_tag(27)
    with pytest.raises(ValueError, match="no rate results for dinov2/cls x265 at rate point 27"):
        rd_point(evaluation_doc("dinov2", "cls", recon, _evaluation(["s0"])), [])
    doc = evaluation_doc("dinov2", "cls", recon, _evaluation(["s0"]))
    with pytest.raises(ValueError, match="no rate row for 1 evaluated sample.*'s9'"):
        rd_point({**doc, "samples": ["s0", "s9"]}, _results(sweep))
    with pytest.raises(ValueError, match="holds x265 features .* not vtm"):
        evaluation_doc("dinov2", "cls", recon, _evaluation(["s0"]), label="vtm")
    other = json.loads(json.dumps(_results(sweep)[0][1]))
    for row in other["rows"]:
        row["bpfp"] += 1
    with pytest.raises(ValueError, match="disagree on the rate"):
        rd_point(evaluation_doc("dinov2", "cls", recon, _evaluation(["s0"])), [*_results(sweep), ("other.json", other)])


def test_report_joins_sweep_results_and_evaluations_from_folders(sweep, capsys):
    evals = sweep / "evals"
    evals.mkdir()
    for name, folder, value in (("x27", sweep / "out" / "recon" / "x265" / rate_tag(27), 40.0),
                                ("x37", sweep / "out" / "recon" / "x265" / rate_tag(37), 20.0),
                                ("orig", sweep / "feat", 100.0)):
        doc = evaluation_doc("dinov2", "cls", folder, _evaluation(["s0", "s1", "s2"], value))
        (evals / f"{name}.json").write_text(json.dumps(doc))
    points = load_report_inputs(sweep / "out", evals)
    assert sorted((p.label, p.rate_point) for p in points) == [("uncompressed", 0.0), ("x265", 27), ("x265", 37)]
    assert main(["report", "--results", str(sweep / "out"), str(evals), "--out", str(sweep / "report"),
                 "--anchor", "x265"]) == 0
    assert "| x265 | qp 27 |" in capsys.readouterr().out  # the rate point with its unit
    with pytest.raises(ValueError, match="found sweep results .* but no evaluations"):
        load_report_inputs(sweep / "out")
