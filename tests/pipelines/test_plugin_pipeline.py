"""An installed codec plug-in (the repository's example package, pip-installed into a temporary
folder and made visible through PYTHONPATH) in the local benchmark pipeline: `fcbench run
benchmark --local --codec zlib` under the kfp local runner, whose tasks run in other processes.
The same run carries an av1 entry that sets an integer option (`preset`): KFP hands the loop item's
ints back as floats, and the run must still code with preset 8 (not fail, not change identity)."""
from __future__ import annotations

import contextlib
import csv
import io
import json

import pytest

from fcbench.components.storage.keys import artifact_key
from fcbench.pipelines.cli import main
from tests.codecs.core.plugin_packages import installed_plugins, plugin_dir  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration  # the kfp local runner


def test_plugin_codec_runs_the_local_benchmark_pipeline(installed_plugins, tiny_cls, tmp_path):
    argv = ["run", "benchmark", "--local", "--out", str(tmp_path / "run"), "--no-cache", "--model", "dinov2",
            "--task", "cls", "--weights", tiny_cls["weights"], "--data", tiny_cls["data"],
            "--sample-list", tiny_cls["sample_list"], "--codec", 'zlib:{"level": 6}', "--codec", 'av1:{"preset": 8}', "--anchor", "zlib",
            "--qp", "27", "--qp", "37", "--storage-uri", str(tmp_path / "store")]
    argv += [a for k, v in json.loads(tiny_cls["options"]).items() for a in ("--option", f"{k}={v}")]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0, printed.getvalue()
    (run_dir,) = (tmp_path / "run" / "artifacts").glob("fcbench-benchmark-*")
    (report,) = run_dir.glob("**/report_dir/rd_points.csv")
    with open(report) as f:
        points = {(p["label"], float(p["rate_point"])): p for p in csv.DictReader(f)}
    # the pipeline's VTM QPs 27 and 37 are the plug-in's shifts 1 and 3 (its rate_points_for_qps)
    from fcbench.codecs.registry import codec_class

    crfs = codec_class("av1").rate_points_for_qps([27, 37])
    assert {("zlib", 1.0), ("zlib", 3.0), ("uncompressed", 0.0), ("bypass", 0.0),
            *(("av1", float(c)) for c in crfs)} == set(points)
    for crf in crfs:  # the av1 tasks coded with the entry's preset, an int again
        results = json.loads((tmp_path / "store" / artifact_key("dinov2", "cls", "metrics", "av1", crf,
                                                                  rate_unit="crf") / "results.json").read_text())
        assert results["identity"]["options"]["preset"] == 8 and isinstance(results["identity"]["options"]["preset"], int)
    assert 0 < float(points[("zlib", 3.0)]["bpfp"]) < float(points[("zlib", 1.0)]["bpfp"]) < 10
    for shift in (1, 3):  # published under the plug-in's own unit
        key = artifact_key("dinov2", "cls", "recon", "zlib", shift, rate_unit="shift")
        assert key == f"dinov2/cls/zlib/shift{shift}/recon/"
        assert (tmp_path / "store" / key / "manifest.json").is_file()
    assert "zlib" in (report.parent / "report.md").read_text()
