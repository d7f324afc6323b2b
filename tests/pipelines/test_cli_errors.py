"""Expected failures reach the user as one line naming the file, URI or server, never as a
traceback, and the command exits non-zero (issue #12 items 7, 13, 14)."""
from __future__ import annotations

import numpy as np
import pytest

from fcbench.codecs import FeatureSet
from fcbench.pipelines.cli import main
from tests.faults import DyingServer


def run(argv: list[str], capsys) -> tuple[int, str]:
    """(exit status, stderr) of the real entry point; argparse errors exit through SystemExit."""
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def small_set(tmp_path) -> FeatureSet:
    fs = FeatureSet.create(tmp_path / "set", "m", "t", "s")
    fs.write("a", np.linspace(-1, 1, 2 * 8 * 16, dtype=np.float32).reshape(1, 2, 8, 16))
    return fs


def test_outputs_of_the_wrong_kind(small_set, tmp_path, capsys):
    folder, file = tmp_path / "a-folder", tmp_path / "a-file"
    folder.mkdir()
    file.write_text("x")
    assert main(["encode", "--features", str(small_set.root), "--codec", "bypass", "--rate-points", "0",
                 "--low", "-1", "--high", "1", "--out", str(tmp_path / "o"), "-j", "1", "--no-progress"]) == 0
    capsys.readouterr()
    container = tmp_path / "o" / "bitstreams" / "bypass" / "qp0" / "a.bin"
    rc, err = run(["codec", "decode", str(container), "-o", str(folder)], capsys)
    assert rc == 2 and f"{folder} is a folder; give a file name" in one_line(err)
    for argv in (["encode", "--features", str(small_set.root), "--codec", "bypass", "--rate-points", "0", "--out", str(file)],
                 ["report", "--results", str(tmp_path / "o"), "--out", str(file)]):
        rc, err = run(argv, capsys)
        assert rc == 2 and f"{file} is a file; give a folder" in one_line(err)
    assert file.read_text() == "x" and not any(folder.iterdir())


def test_file_errors_name_the_file(tmp_path, capsys):
    rc, err = run(["pack", str(tmp_path / "missing.npy"), "-o", str(tmp_path / "x.yuv"), "--low", "0", "--high", "1"], capsys)
    assert rc == 1 and f"{tmp_path / 'missing.npy'}: No such file or directory" in one_line(err)
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY\x01\x00")
    rc, err = run(["pack", str(bad), "-o", str(tmp_path / "x.yuv"), "--low", "0", "--high", "1"], capsys)
    assert rc == 1 and f"{bad} is not a readable .npy file" in one_line(err)
    np.save(tmp_path / "f.npy", np.zeros((1, 1, 4, 4), np.float32))
    (tmp_path / "plain").write_text("a file, not a folder")
    rc, err = run(["pack", str(tmp_path / "f.npy"), "-o", str(tmp_path / "plain" / "x.yuv"), "--low", "0", "--high", "1"],
                  capsys)
    assert rc == 1 and f"{tmp_path / 'plain'}: is a file where a folder is needed" in one_line(err)


def test_unpack_refuses_a_frame_of_another_bit_depth(tmp_path, capsys):
    np.save(tmp_path / "f.npy", np.random.default_rng(0).random((1, 2, 8, 8), dtype=np.float32))
    assert main(["pack", str(tmp_path / "f.npy"), "-o", str(tmp_path / "f16.yuv"), "--low", "0", "--high", "1",
                 "--bit-depth", "16"]) == 0
    capsys.readouterr()
    rc, err = run(["unpack", str(tmp_path / "f16.yuv"), "-o", str(tmp_path / "back.npy"), "--shape", "1", "2", "8", "8",
                   "--low", "0", "--high", "1", "--bit-depth", "10"], capsys)
    line = one_line(err)
    assert rc == 1 and f"{tmp_path / 'f16.yuv'}: raw frame holds sample value" in line and "beyond 10-bit" in line
    assert not (tmp_path / "back.npy").exists()


@pytest.mark.parametrize("extra,message", [
    (["--low", "1", "--high", "0"], "truncation range [1, 0] is empty: every high must exceed its low"),
    (["--low", "0", "--high", "1", "--layout", "nope"], "unknown packing layout 'nope'"),
    (["--low", "0", "0", "--high", "1", "inf"], "truncation range [0, inf] (channel 1) is not finite"),
    (["--low", "0", "0", "0", "--high", "1", "1", "1"], "sample 'a' of"),
    (["--low=-3e38", "--high", "3e38"], "reaches beyond float32"),
])
def test_encode_with_bad_conditions_fails_once_before_any_job(small_set, tmp_path, capsys, extra, message):
    """(A bit depth outside 1..16 is refused by the argument parser, exit 2: test_cli_validation.)"""
    out = tmp_path / "out"
    rc, err = run(["encode", "--features", str(small_set.root), "--codec", "x265", "--qp", "27", "32", *extra,
                   "--out", str(out), "-j", "1", "--no-progress"], capsys)
    assert rc == 1 and message in one_line(err)
    assert not out.exists()  # no empty recon sets or results tables left behind


def test_mlflow_dying_during_upload_is_one_line_naming_the_server(tmp_path, monkeypatch, capsys):
    from fcbench.components.reporting import RDPoint
    from fcbench.components.tracking import Tracker

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the client's own retries, minutes by default
    point = RDPoint(model="m", task="t", label="x265", rate_point=22, bpfp=1.0, ebpfp=1.0, metric="acc",
                    metric_value=0.5, direction="higher", feature_mse=0.01)
    Tracker(offline_dir=tmp_path / "journal").log_point(point)
    with DyingServer() as server:
        rc, err = run(["upload-tracking", str(tmp_path / "journal"), "--mlflow", server.uri], capsys)
        assert server.dropped >= 1  # it passed the probe, then died on the first real request
    assert rc == 1 and server.uri in one_line(err)
