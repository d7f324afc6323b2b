"""`--preset` on `fcbench encode` and `fcbench report`; `fcbench doctor` checks the VTM cfg."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fcbench.codecs import FeatureSet
from fcbench.components.reporting import RDPoint, save_points_json
from fcbench.pipelines.cli import main
from fcbench.pipelines.commands.core import cfg_verdict, doctor_report


@pytest.fixture
def cls_set(tmp_path):
    fs = FeatureSet.create(tmp_path / "feat", model="dinov2", task="cls", split_point="block 40")
    for i in range(2):
        fs.write(f"img{i}", np.random.default_rng(i).normal(0, 6, (1, 1, 24, 64)).astype(np.float32))
    return fs


def test_encode_under_the_paper_preset(cls_set, tmp_path, capsys):
    argv = ["encode", "--features", str(cls_set.root), "--codec", "x265", "--qp", "32", "-j", "1", "--no-progress",
            "--option", "preset=ultrafast", "--out"]
    assert main(argv + [str(tmp_path / "paper"), "--preset", "paper"]) == 0
    captured = capsys.readouterr()
    assert "preset paper is the reference chain with vtm; coding with x265" in captured.err
    assert "paper" in captured.out.splitlines()[1]  # the summary table names the preset
    body = json.loads((tmp_path / "paper" / "results.json").read_text())
    assert body["preset"] == "paper" and body["conditions"]["quant"] == "legacy"
    assert {r["preset"] for r in body["rows"]} == {"paper"}
    assert (tmp_path / "paper" / "results.csv").read_text().splitlines()[1].split(",")[3] == "paper"
    assert main(argv + [str(tmp_path / "default")]) == 0
    body = json.loads((tmp_path / "default" / "results.json").read_text())
    assert body["preset"] == "fcbench" and body["conditions"]["quant"] == "round"
    with pytest.raises(SystemExit):
        main(argv + [str(tmp_path / "x"), "--preset", "nope"])


def _points(codec, preset=None):
    return [RDPoint(model="dinov2", task="cls", label=codec, rate_point=q, bpfp=b, ebpfp=b, metric="top1",
                    metric_value=50 + 40 * b, direction="higher", feature_mse=0.1, preset=preset)
            for q, b in ((22, 0.8), (32, 0.4), (42, 0.1))]


def test_report_names_the_preset_and_refuses_mixtures(tmp_path, capsys):
    save_points_json(_points("vtm") + _points("x265"), tmp_path / "plain.json")
    assert main(["report", "--results", str(tmp_path / "plain.json"), "--out", str(tmp_path / "r1"), "--preset", "paper"]) == 0
    text = (tmp_path / "r1" / "report.md").read_text()
    assert "Preset: `paper`: the reference chain" in text and "BD-rate vs vtm" in text
    rows = (tmp_path / "r1" / "rd_points.csv").read_text().splitlines()
    column = rows[0].split(",").index("preset")
    assert all(r.split(",")[column] == "paper" for r in rows[1:])
    assert main(["report", "--results", str(tmp_path / "plain.json"), "--out", str(tmp_path / "r2")]) == 0
    assert "Preset: not recorded." in (tmp_path / "r2" / "report.md").read_text()
    save_points_json(_points("vtm", "paper") + _points("x265", "fcbench"), tmp_path / "mixed.json")
    capsys.readouterr()
    assert main(["report", "--results", str(tmp_path / "mixed.json"), "--out", str(tmp_path / "r3")]) == 1
    assert "presets ['fcbench', 'paper'] cannot share a report" in capsys.readouterr().err
    save_points_json(_points("vtm", "fcbench"), tmp_path / "fc.json")
    assert main(["report", "--results", str(tmp_path / "fc.json"), "--out", str(tmp_path / "r4"), "--preset", "paper"]) == 1
    assert "made under preset 'fcbench', not 'paper'" in capsys.readouterr().err


def test_doctor_says_whether_the_vtm_cfg_is_the_references(tmp_path, monkeypatch):
    cfg = tmp_path / "encoder_intra_vtm.cfg"
    cfg.write_text("#======== File I/O =====\nIntraPeriod : 1\n")
    monkeypatch.setenv("FCBENCH_VTM_CFG", str(cfg))
    status = doctor_report()["codecs"]["vtm_cfg"]
    assert status.startswith(f"{cfg}: NOT the reference's all-intra cfg") and "5647353c1d7a" in status
    import hashlib

    sha = hashlib.sha256(cfg.read_bytes()).hexdigest()
    assert "the reference's all-intra cfg (VTM 23.13 stock" in cfg_verdict(cfg, sha)
    monkeypatch.setenv("FCBENCH_VTM_CFG", str(tmp_path / "missing.cfg"))
    assert doctor_report()["codecs"]["vtm_cfg"].endswith("does not exist")


def test_run_under_the_paper_preset_codes_with_vtm(tmp_path, monkeypatch, capsys):
    from fcbench.pipelines.cli import build_parser
    from fcbench.pipelines.commands.kfp import collect_arguments, resolve

    encoder = tmp_path / "EncoderAppStatic"
    encoder.write_text("#!/bin/sh\necho 'VVCSoftware: VTM Encoder Version 23.13 [Linux][GCC][64 bit]'\n")
    encoder.chmod(0o755)
    cfg = tmp_path / "encoder_intra_vtm.cfg"
    cfg.write_text("IntraPeriod : 1\n")
    monkeypatch.setenv("FCBENCH_VTM_ENCODER", str(encoder))
    monkeypatch.setenv("FCBENCH_VTM_CFG", str(cfg))
    parse = build_parser().parse_args
    arguments = collect_arguments(parse(["run", "benchmark", "--local", "--preset", "paper"]))
    # codecs are named only: their identity is resolved where they run (the resolve_codecs task)
    assert arguments["preset"] == "paper" and arguments["codecs"] == ["vtm"]
    assert resolve("benchmark", arguments)[0] == "benchmark-traditional"  # a parameter of the pipeline
    given = collect_arguments(parse(["run", "benchmark", "--local", "--preset", "paper", "--codec", "x265"]))
    assert given["codecs"] == ["x265"]
    assert "codecs" not in collect_arguments(parse(["run", "benchmark", "--local", "--preset", "fcbench"]))
    monkeypatch.setenv("FCBENCH_VTM_ENCODER", str(tmp_path / "missing"))
    assert main(["run", "benchmark", "--local", "--preset", "paper", "--out", str(tmp_path / "o")]) == 1
    assert "VTM encoder" in capsys.readouterr().err
