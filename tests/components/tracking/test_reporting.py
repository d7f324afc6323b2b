"""RD points, BD-rate and the report, without MLflow."""
from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest

from fcbench.components.bdrate import monotone_curve
from fcbench.components.reporting import RDPoint, build_report, compute_bd, load_points, save_points_csv, save_points_json

RATES = np.array([0.05, 0.1, 0.2, 0.4, 0.8])


def quality(r):  # a smooth, strictly increasing RD curve
    return 70 + 4 * np.log2(r / 0.05)


@pytest.mark.parametrize("saving", [0.10, 0.25, 0.40])
def test_bd_rate_of_uniformly_cheaper_codec(curve, saving):
    pts = curve("vtm", RATES, quality(RATES)) + curve("x265", RATES * (1 - saving), quality(RATES))
    (res,), notes = compute_bd(pts)
    assert notes == []
    assert res.label == "x265" and res.anchor == "vtm"
    assert res.bd_rate == pytest.approx(-100 * saving, abs=1e-6)
    # at equal rate the cheaper codec is 4*log2(1/(1-s)) metric units better
    assert res.bd_metric == pytest.approx(-4 * np.log2(1 - saving), rel=1e-6)
    assert res.flags == ()


def test_lower_is_better_metric(curve):
    fid = 40 - quality(RATES) / 2  # falls as rate grows
    pts = (curve("vtm", RATES, fid, metric="FID", direction="lower")
           + curve("hyperprior", RATES * 1.3, fid, metric="FID", direction="lower"))
    (res,), _ = compute_bd(pts)
    assert res.bd_rate == pytest.approx(30.0, abs=1e-6)  # 30 % more bits for the same FID
    assert res.bd_metric > 0  # higher FID at equal rate = worse
    assert res.overlap_low == pytest.approx(fid.min()) and res.overlap_high == pytest.approx(fid.max())
    assert res.flags == ()


def test_worse_codec_has_positive_bd_rate_and_same_result_under_point_order(curve):
    a = curve("vtm", RATES, quality(RATES))
    b = curve("x265", RATES * 1.5, quality(RATES))
    (r1,), _ = compute_bd(a + b)
    (r2,), _ = compute_bd(list(reversed(a + b)))
    assert r1.bd_rate == pytest.approx(50.0) and r2.bd_rate == pytest.approx(r1.bd_rate)


def test_non_monotonic_points_are_dropped_and_flagged(curve):
    values = quality(RATES).copy()
    values[2] = values[0] - 1  # a point worse than a cheaper one
    pts = curve("vtm", RATES, quality(RATES)) + curve("x265", RATES, values)
    (res,), _ = compute_bd(pts)
    assert res.n_test == 4
    assert any("non-monotonic test curve" in f and "0.2" in f for f in res.flags)
    assert res.bd_rate is not None


def test_few_points_flagged_and_one_point_not_computed(curve):
    pts = curve("vtm", RATES, quality(RATES)) + curve("x265", RATES[:3], quality(RATES[:3]))
    pts += curve("bypass", RATES[:1], quality(RATES[:1]))
    res = {r.label: r for r in compute_bd(pts)[0]}
    assert res["x265"].bd_rate == pytest.approx(0.0, abs=1e-9)
    assert any("3 usable point(s)" in f for f in res["x265"].flags)
    assert res["bypass"].bd_rate is None and any(">= 2 usable points" in f for f in res["bypass"].flags)


def test_partial_and_no_overlap(curve):
    hi = RATES * 8
    pts = curve("vtm", RATES, quality(RATES)) + curve("x265", RATES * 2, quality(RATES * 2))
    (part,), _ = compute_bd(pts)
    assert part.overlap_fraction == pytest.approx(12 / 20)  # metric 74..86 of the union 70..90
    assert part.overlap_low == pytest.approx(quality(RATES)[1]) and part.overlap_high == pytest.approx(quality(RATES)[-1])
    assert any("overlap only 60%" in f for f in part.flags)
    assert part.bd_rate == pytest.approx(0.0, abs=1e-6)
    pts = curve("vtm", RATES, quality(RATES)) + curve("x265", hi * 4, quality(hi * 4) + 100)
    (none,), _ = compute_bd(pts)
    assert none.bd_rate is None and any("no overlap" in f for f in none.flags)


def test_missing_anchor_is_never_silent(curve):
    pts = curve("x265", RATES, quality(RATES)) + curve("hyperprior", RATES * 0.9, quality(RATES))
    bd, notes = compute_bd(pts, anchor="vtm")
    assert bd == [] and "anchor 'vtm' absent" in notes[0]
    bd, notes = compute_bd(pts, anchor="vtm", fallback_anchor="x265")
    assert [b.label for b in bd] == ["hyperprior"] and bd[0].anchor == "x265"
    assert "fallback anchor 'x265'" in notes[0]
    assert bd[0].bd_rate == pytest.approx(-10.0)


def test_point_validation():
    good = dict(model="m", task="t", codec="vtm", rate_point=22, bpfp=0.1, ebpfp=0.1, metric="acc",
                metric_value=0.5, direction="higher", feature_mse=0.0)
    RDPoint.from_dict(good)
    with pytest.raises(ValueError, match="metric_value is nan"):
        RDPoint.from_dict({**good, "metric_value": float("nan")})
    with pytest.raises(ValueError, match="direction"):
        RDPoint.from_dict({**good, "direction": "up"})
    with pytest.raises(ValueError, match=r"lacks keys \['bpfp'\]"):
        RDPoint.from_dict({k: v for k, v in good.items() if k != "bpfp"})
    with pytest.raises(ValueError, match="unknown keys"):
        RDPoint.from_dict({**good, "bpp": 1})
    with pytest.raises(ValueError, match="negative rate"):
        RDPoint.from_dict({**good, "bpfp": -1})


def test_load_save_roundtrip_and_conflicts(tmp_path, curve):
    pts = curve("vtm", RATES, quality(RATES), params={"qp": 22, "truncate": [-5, 5]}, tags={"binary_sha256": "ab"})
    save_points_json(pts[:2], tmp_path / "res" / "a.json")
    (tmp_path / "res" / "sub").mkdir()
    (tmp_path / "res" / "sub" / "b.json").write_text(json.dumps([p.as_dict() for p in pts[2:]]))
    (tmp_path / "res" / "manifest.json").write_text(json.dumps({"model": "m", "samples": []}))  # not results
    loaded = load_points(tmp_path / "res")
    assert sorted(loaded, key=lambda p: p.bpfp) == pts
    save_points_csv(pts, tmp_path / "p.csv")
    assert load_points(tmp_path / "p.csv") == pts
    assert load_points(tmp_path / "p.csv", tmp_path / "res") == pts  # duplicates merged
    bad = RDPoint.from_dict({**pts[0].as_dict(), "metric_value": 1.0})
    save_points_json([bad], tmp_path / "bad.json")
    with pytest.raises(ValueError, match="conflicting results"):
        load_points(tmp_path / "res", tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError):
        load_points(tmp_path / "nope.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no results"):
        load_points(tmp_path / "empty")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_points(tmp_path / "broken.json")


def test_build_report_files(tmp_path, curve):
    pts = (curve("vtm", RATES, quality(RATES)) + curve("x265", RATES * 1.2, quality(RATES))
           + curve("uncompressed", [32.0], [quality(RATES).max() + 1])
           + curve("vtm", RATES, 10 - RATES, model="sd3", task="tti", metric="FID", direction="lower"))
    rep = build_report(pts, tmp_path / "out", anchor="vtm", title="demo")
    assert {p.name for p in rep.files} == {"report.md", "report.html", "rd_points.csv", "bdrate.csv", "bdrate.json",
                                           "rd_m_t.png", "rd_sd3_tti.png"}
    for png in rep.plots:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    md = rep.markdown.read_text()
    assert md == rep.text and md.startswith("# demo")
    assert "## m / t" in md and "## sd3 / tti" in md and "Metric: FID (lower is better)" in md
    assert "| x265 | vtm | 20.00 |" in md and "uncompressed" in md
    rows = list(csv.DictReader(rep.bdrate_csv.open()))
    assert [(r["label"], round(float(r["bd_rate"]), 6)) for r in rows] == [("x265", 20.0)]
    assert len(list(csv.DictReader(rep.points_csv.open()))) == len(pts)
    assert json.loads(rep.bdrate_json.read_text())["results"][0]["label"] == "x265"
    with pytest.raises(ValueError, match="no RD points"):
        build_report([], tmp_path / "x")


def test_mixed_metric_in_one_task_is_an_error(curve, tmp_path):
    pts = curve("vtm", RATES, quality(RATES)) + curve("x265", RATES, quality(RATES), metric="top1")
    with pytest.raises(ValueError, match="disagree on the metric"):
        build_report(pts, tmp_path)


def test_monotone_curve_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        monotone_curve([0.1, 0.2], [1.0, float("nan")], "higher")


def _timed(curve, codec, rates, enc, dec, samples=8):
    """The quality(RATES) curve at `rates`, its points with CPU times per sample and a feature
    PSNR that follows the task metric."""
    return [replace(p, enc_s=enc, dec_s=dec, samples=samples, feature_psnr=p.metric_value - 40)
            for p in curve(codec, rates, quality(RATES))]


def test_bd_table_shows_feature_psnr_bd_rate_and_speedups_against_the_anchor(tmp_path, curve):
    pts = (_timed(curve, "vtm", RATES, enc=2.0, dec=0.2) + _timed(curve, "x265", RATES * 1.2, enc=0.5, dec=0.1)
           + _timed(curve, "slow", RATES, enc=8.0, dec=None))
    rep = build_report(pts, tmp_path / "out", anchor="vtm")
    x265, slow = rep.comparisons[("m", "t", "x265")], rep.comparisons[("m", "t", "slow")]
    assert (x265.speed.enc, x265.speed.dec, x265.speed.why) == (pytest.approx(4.0), pytest.approx(2.0), "")
    assert x265.fidelity.bd_rate == pytest.approx(20.0, abs=1e-6)  # 20 % more bits for the same feature PSNR
    assert slow.speed.enc == pytest.approx(0.25) and slow.speed.dec is None and "no dec time of slow" in slow.speed.why
    md = rep.markdown.read_text()
    assert "| x265 | vtm | 20.00 |" in md and "| 20.00 | 4x | 2x |" in md
    assert "| 0.25x | n/a | speed-up: no dec time of slow |" in md
    assert "feature PSNR dB" in md and "enc CPU s/sample" in md
    rows = {r["label"]: r for r in csv.DictReader(rep.bdrate_csv.open())}
    assert float(rows["x265"]["enc_speedup"]) == pytest.approx(4.0) and rows["slow"]["dec_speedup"] == ""
    assert float(rows["x265"]["bd_rate_feature_psnr"]) == pytest.approx(20.0, abs=1e-6)
    results = {r["label"]: r for r in json.loads(rep.bdrate_json.read_text())["results"]}
    assert results["x265"]["speedup"]["enc"] == pytest.approx(4.0) and results["x265"]["fidelity"]["bd_rate"]


def test_speedups_need_the_same_samples_and_missing_times_are_said(tmp_path, curve):
    pts = _timed(curve, "vtm", RATES, enc=2.0, dec=0.2, samples=8) + _timed(curve, "x265", RATES, enc=1.0, dec=0.1,
                                                                            samples=4)
    pts += curve("untimed", RATES, quality(RATES))  # no times, no feature PSNR
    rep = build_report(pts, tmp_path / "out", anchor="vtm")
    other = rep.comparisons[("m", "t", "x265")].speed
    assert other.enc is None and "not timed on the same samples" in other.why
    untimed = rep.comparisons[("m", "t", "untimed")]
    assert untimed.fidelity is None and untimed.speed.enc is None and untimed.speed.dec is None
    assert "| untimed | vtm | 0.00 |" in rep.text and "n/a | n/a | n/a |" in rep.text
