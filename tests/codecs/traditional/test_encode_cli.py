"""`fcbench encode` / `fcbench codec ...` called through the real CLI entry point."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fcbench.codecs import FeatureSet
from fcbench.pipelines.cli import main
from fcbench.pipelines.commands.codec import parse_options, parse_rate_point
from tests.codecs.traditional.helpers import smooth_feature


@pytest.fixture
def dinov2_set(tmp_path):
    fs = FeatureSet.create(tmp_path / "feat", model="dinov2", task="cls", split_point="block 40")
    for i in range(2):
        fs.write(f"img{i}", smooth_feature((1, 1, 24, 192), seed=i, scale=10))
    return fs


def test_encode_prints_the_summary_and_reruns_from_cache(dinov2_set, tmp_path, capsys):
    argv = ["encode", "--features", str(dinov2_set.root), "--codec", "x265", "--qp", "22", "37",
            "--out", str(tmp_path / "out"), "-j", "2", "--model", "dinov2", "--task", "cls",
            "--option", "preset=fast", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "rate_point" in text and "4 results (0 from cache, 4 jobs run)" in text
    body = json.loads((tmp_path / "out" / "results.json").read_text())
    assert body["conditions"] == {"low": -20, "high": 20, "truncate": True, "bit_depth": 10,
                                  "layout": "dinov2", "quant": "round"}
    assert body["identity"]["options"]["preset"] == "fast"
    assert main(["codec", "run", *argv[1:], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cache_hits"] == 4 and out["jobs_run"] == 0 and len(out["summary"]) == 2


def test_conditions_from_the_manifest_and_default_rate_points(dinov2_set, tmp_path, capsys):
    assert main(["encode", "--features", str(dinov2_set.root), "--codec", "bypass", "--rate-points", "0",
                 "--out", str(tmp_path / "b"), "-j", "1", "--no-progress", "--quantization", "legacy"]) == 0
    body = json.loads((tmp_path / "b" / "results.json").read_text())
    assert body["conditions"]["quant"] == "legacy" and body["conditions"]["low"] == -20
    assert main(["encode", "--features", str(dinov2_set.root), "--codec", "x265", "--out", str(tmp_path / "d"),
                 "-j", "2", "--no-progress", "--option", "preset=ultrafast"]) == 0
    assert [s["rate_point"] for s in json.loads((tmp_path / "d" / "results.json").read_text())["summary"]] == [22, 27, 32, 37, 42]


def test_explicit_ranges_and_decode(dinov2_set, tmp_path, capsys):
    assert main(["encode", "--features", str(dinov2_set.root), "--codec", "lossless", "--rate-points", "0",
                 "--out", str(tmp_path / "o"), "--low", "-3", "--high", "3", "--layout", "dinov2",
                 "--bit-depth", "8", "--option", "level=3", "-j", "1", "--no-progress"]) == 0
    container = tmp_path / "o" / "bitstreams" / "lossless" / "qp0" / "img0.bin"
    assert main(["codec", "decode", str(container), "-o", str(tmp_path / "img0.npy")]) == 0
    recon = np.load(tmp_path / "img0.npy")
    assert recon.shape == (1, 1, 24, 192)
    assert np.max(np.abs(recon - np.clip(dinov2_set.read("img0"), -3, 3))) <= 3 / 255 + 1e-6


def test_errors_are_reported_not_raised(dinov2_set, tmp_path, capsys):
    base = ["encode", "--features", str(dinov2_set.root), "--codec", "x265", "--out", str(tmp_path / "e"), "--no-progress"]
    assert main(base + ["--qp", "70"]) == 2  # a usage error, as argparse's (#22 item 7)
    assert "QP 70 outside [0, 51] (see `fcbench encode --help`)" in capsys.readouterr().err
    assert main(base + ["--qp", "22", "--codec", "x266"]) == 2
    assert "unknown codec 'x266'; available:" in capsys.readouterr().err
    assert main(base + ["--qp", "22", "--low", "-1"]) == 1
    assert "--low and --high" in capsys.readouterr().err
    assert main(base + ["--qp", "22", "--option", "nokey"]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(base + ["--qp", "22", "--model", "dinov2", "--task", "nope"]) == 1
    assert "no truncation range" in capsys.readouterr().err


def test_codec_list(capsys):
    assert main(["codec", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["x265"]["ready"] and listing["bypass"]["ready"]
    assert {"x265", "vtm", "vvenc", "bypass", "lossless"} <= set(listing)


def test_option_and_rate_parsing():
    assert parse_options(["preset=fast", "level=19", 'checkpoints={"0.1": "a.pt"}']) == \
        {"preset": "fast", "level": 19, "checkpoints": {"0.1": "a.pt"}}
    assert parse_rate_point("22") == 22 and parse_rate_point("0.0017") == 0.0017
    with pytest.raises(ValueError):
        parse_rate_point("fast")
