"""VTM / VVenC drivers: configuration errors, exit codes, and (when installed) real encodes."""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from fcbench.codecs import get_codec, unpack_container
from fcbench.codecs.backends._binary import BinaryNotFound, ToolError
from fcbench.codecs.protocol import Conditions
from tests.faults import is_running

CP, CAT, SLEEP = shutil.which("cp"), shutil.which("cat"), shutil.which("sleep")  # resolved before tests empty PATH
HAVE_VTM = bool(os.environ.get("FCBENCH_VTM_ENCODER"))
HAVE_VVENC = bool(os.environ.get("FCBENCH_VVENC_ENCODER"))
FEATURE = np.zeros((1, 1, 16, 64), dtype=np.float32)
COND = dict(low=-5, high=5, layout="llama3")


@pytest.fixture
def no_codec_env(monkeypatch, tmp_path):
    for var in ("FCBENCH_VTM_ENCODER", "FCBENCH_VTM_DECODER", "FCBENCH_VTM_CFG",
                "FCBENCH_VVENC_ENCODER", "FCBENCH_VVDEC_DECODER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))


def executable(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize("name,var", [("vtm", "FCBENCH_VTM_ENCODER"), ("vvenc", "FCBENCH_VVENC_ENCODER")])
def test_missing_encoder_says_how_to_configure_it(no_codec_env, name, var):
    codec = get_codec(name)  # building it needs no binary: decoding works without one
    with pytest.raises(BinaryNotFound, match=f"set {var}.*does not build or ship"):
        codec.encode(FEATURE, 32, **COND)


def test_explicit_path_that_does_not_exist(no_codec_env, tmp_path):
    with pytest.raises(BinaryNotFound, match="not a file"):
        get_codec("vtm", encoder=tmp_path / "nope" / "EncoderAppStatic").identity
    with pytest.raises(BinaryNotFound, match="VTM decoder"):
        get_codec("vtm", decoder=tmp_path / "nope" / "DecoderAppStatic")


def test_missing_cfg_is_named(no_codec_env, tmp_path):
    enc = executable(tmp_path / "EncoderAppStatic", "exit 0")
    with pytest.raises(BinaryNotFound, match="encoder_intra_vtm.cfg"):
        get_codec("vtm", encoder=enc).encode(FEATURE, 32, **COND)


def test_encoder_exit_status_and_log_are_reported(no_codec_env, tmp_path):
    enc = executable(tmp_path / "EncoderAppStatic", 'echo "VVCSoftware: VTM Encoder Version 99.0"; echo "cannot open $4" >&2; exit 3')
    cfg = tmp_path / "encoder_intra_vtm.cfg"
    cfg.write_text("# cfg\n")
    codec = get_codec("vtm", encoder=enc, cfg=cfg)
    assert codec.identity["version"] == "99.0"
    assert codec.identity["cfg_sha256"] == hashlib.sha256(b"# cfg\n").hexdigest()
    with pytest.raises(ToolError, match=r"exited with status 3(.|\n)*cannot open in.yuv"):
        codec.encode(FEATURE, 32, **COND)


def test_encoder_that_writes_nothing_is_an_error(no_codec_env, tmp_path):
    enc = executable(tmp_path / "EncoderAppStatic", "exit 0")
    cfg = tmp_path / "encoder_intra_vtm.cfg"
    cfg.write_text("")
    with pytest.raises(ToolError, match="wrote no bitstream"):
        get_codec("vtm", encoder=enc, cfg=cfg).encode(FEATURE, 32, **COND)


def test_reference_command_line(no_codec_env, tmp_path):
    enc = executable(tmp_path / "EncoderAppStatic", "exit 0")
    cfg = tmp_path / "encoder_intra_vtm.cfg"
    cfg.write_text("")
    argv = get_codec("vtm", encoder=enc, cfg=cfg).encoder_argv(enc, "in.yuv", "out.bin", 257, 1536, 32, 10)
    assert argv[1:] == ["-c", str(cfg.resolve()), "-i", "in.yuv", "-o", "", "-b", "out.bin", "-q", "32",
                        "--ConformanceWindowMode=1", "-wdt", "1536", "-hgt", "257", "-f", "1", "-fr", "1",
                        "--InternalBitDepth=10", "--InputBitDepth=10", "--InputChromaFormat=400",
                        "--OutputBitDepth=10"]


def test_qp_range_and_type():
    codec = get_codec("vtm", decoder="pyav")
    for bad in (64, -1, 22.5, True, "22"):
        with pytest.raises(ValueError, match="QP"):
            codec.check_rate_point(bad)
    with pytest.raises(ValueError, match="preset"):
        get_codec("vvenc", preset="turbo", decoder="pyav")


@pytest.mark.vtm
@pytest.mark.skipif(not HAVE_VTM, reason="VTM not configured: set FCBENCH_VTM_ENCODER (and FCBENCH_VTM_CFG)")
@pytest.mark.parametrize("name", ["llama3_like", "dinov2_like", "sd3_like"])
@pytest.mark.parametrize("qp", [22, 32, 42])
def test_vtm_reproduces_the_fixture_bitstream(vtm_fixtures, fixture_meta, name, qp):
    meta = fixture_meta[name]
    codec = get_codec("vtm", encoder=os.environ["FCBENCH_VTM_ENCODER"])
    if codec.identity["version"] != "23.13":
        pytest.skip(f"fixtures were made with VTM 23.13, this VTM is {codec.identity['version']}")
    feature = np.load(vtm_fixtures / f"{name}.feature.npy")
    data = codec.encode(feature, qp, low=meta["trunc"][0], high=meta["trunc"][1], layout=meta["packing"], bit_depth=10)
    _, payload = unpack_container(data)
    # byte-identical to the reference command line's out.bin
    assert hashlib.sha256(payload).hexdigest() == meta["qps"][str(qp)]["bitstream_sha256"]
    decoded = codec.decode_to_frame(data)[1]  # VTM's decoder when configured, else PyAV
    expected = np.fromfile(vtm_fixtures / f"{name}.qp{qp}.decoded.yuv", dtype="<u2").reshape(decoded.shape)
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.vvenc
@pytest.mark.skipif(not HAVE_VVENC, reason="VVenC not configured: set FCBENCH_VVENC_ENCODER")
def test_vvenc_encodes_a_fixture_frame(vtm_fixtures, fixture_meta):
    meta = fixture_meta["sd3_like"]
    feature = np.load(vtm_fixtures / "sd3_like.feature.npy")
    cond = dict(low=meta["trunc"][0], high=meta["trunc"][1], layout="sd3", bit_depth=10)
    codec = get_codec("vvenc", preset="faster", decoder="pyav")
    sizes = []
    for qp in (22, 32, 42):
        data = codec.encode(feature, qp, **cond)
        header, frame = codec.decode_to_frame(data)
        ref = codec.to_frame(feature, qp, Conditions(**cond))[1]
        mse = float(np.mean((frame.astype(float) - ref) ** 2))
        assert 10 * np.log10(1023**2 / max(mse, 1e-9)) > 25
        sizes.append(len(data))
    assert sizes == sorted(sizes, reverse=True)


def replay_tool(path: Path, expected_args: str, copy_from: Path, out_flag: str, log: Path) -> Path:
    """An executable that replays a recorded VTM run: it refuses any command line but the
    expected one, writes the recorded output where the flag says, and prints the recorded log."""
    return executable(path, f'''
[ "$*" = '{expected_args}' ] || {{ echo "unexpected command line: $*" >&2; exit 9; }}
while [ $# -gt 0 ]; do [ "$1" = "{out_flag}" ] && out="$2"; shift; done
{CP} '{copy_from}' "$out"
{CAT} '{log}'
''')


@pytest.mark.parametrize("qp", [22, 42])
def test_driver_against_a_recorded_vtm_run(no_codec_env, tmp_path, vtm_fixtures, fixture_meta, qp):
    """The whole vtm driver (temp dir, exact argv, log cross-check, container, VTM-decoder
    path and PyAV path) on the recorded VTM 23.13 run of the sd3_like fixture."""
    meta = fixture_meta["sd3_like"]
    cfg = tmp_path / "cfg" / "encoder_intra_vtm.cfg"
    cfg.parent.mkdir()
    cfg.write_text("# stock all-intra cfg\n")
    enc_args = (f"-c {cfg} -i in.yuv -o  -b out.bin -q {qp} --ConformanceWindowMode=1 -wdt 128 -hgt 128 -f 1 -fr 1 "
                "--InternalBitDepth=10 --InputBitDepth=10 --InputChromaFormat=400 --OutputBitDepth=10")
    enc = replay_tool(tmp_path / "EncoderAppStatic", enc_args, vtm_fixtures / f"sd3_like.qp{qp}.bin", "-b",
                      vtm_fixtures / f"sd3_like.qp{qp}.encoder.log")
    dec = replay_tool(tmp_path / "DecoderAppStatic", "-b in.bin -o rec.yuv -d 10",
                      vtm_fixtures / f"sd3_like.qp{qp}.decoded.yuv", "-o", vtm_fixtures / f"sd3_like.qp{qp}.decoder.log")
    feature = np.load(vtm_fixtures / "sd3_like.feature.npy")
    cond = dict(low=meta["trunc"][0], high=meta["trunc"][1], layout="sd3", bit_depth=10)
    data = get_codec("vtm", encoder=enc, cfg=cfg, decoder=dec).encode(feature, qp, **cond)
    _, payload = unpack_container(data)
    assert hashlib.sha256(payload).hexdigest() == meta["qps"][str(qp)]["bitstream_sha256"]
    with_tool = get_codec("vtm", decoder=dec).decode(data)
    with_pyav = get_codec("vtm", decoder="pyav").decode(data)
    np.testing.assert_array_equal(with_tool, with_pyav)
    with pytest.raises(ToolError, match="asked for QP"):  # the log says another QP than asked
        get_codec("vtm", encoder=replay_tool(tmp_path / "EncoderApp2", enc_args.replace(f"-q {qp}", "-q 27"),
                                             vtm_fixtures / f"sd3_like.qp{qp}.bin", "-b",
                                             vtm_fixtures / f"sd3_like.qp{qp}.encoder.log"),
                  cfg=cfg).encode(feature, 27, **cond)


def test_a_tool_that_never_exits_is_stopped_with_its_children(no_codec_env, tmp_path, monkeypatch):
    """Issue #12 item 11: a hung VTM used to be waited for forever."""
    pidfile = tmp_path / "child.pid"
    enc = executable(tmp_path / "EncoderAppStatic",
                     'case "$1" in --help) echo "VVCSoftware: VTM Encoder Version 23.13"; exit 0;; esac\n'
                     f'{SLEEP} 600 & echo $! > {pidfile}; wait')
    cfg = tmp_path / "encoder_intra_vtm.cfg"
    cfg.write_text("")
    monkeypatch.setenv("FCBENCH_TOOL_TIMEOUT_BASE", "1")
    monkeypatch.setenv("FCBENCH_TOOL_TIMEOUT_PER_MPIXEL", "0.5")
    with pytest.raises(ToolError, match=r"VTM encoder did not finish within 1 s and was stopped .*FCBENCH_TOOL_TIMEOUT_BASE"):
        get_codec("vtm", encoder=enc, cfg=cfg).encode(FEATURE, 32, **COND)
    child = int(pidfile.read_text())
    assert not is_running(child), "the tool's child process outlived the timeout"


def test_tool_time_limits_scale_with_the_frame(monkeypatch):
    from fcbench.codecs.backends._binary import tool_timeout

    assert tool_timeout(1000, 1000) == 60 + 3000  # the defaults: 60 s + 3000 s per megapixel
    monkeypatch.setenv("FCBENCH_TOOL_TIMEOUT_PER_MPIXEL", "100")
    assert tool_timeout(500, 2000) == 60 + 100
    assert tool_timeout(500, 2000, explicit=5) == 5 and tool_timeout(500, 2000, explicit=0) is None
    with pytest.raises(ValueError, match="timeout must be a number of seconds"):
        get_codec("vtm", decoder="pyav", timeout=-1)
