"""Golden tests on real VVenC 1.14.0 outputs (tests/fixtures/vvenc): log parsing, version,
bits check, PyAV decode, and the whole vvenc driver against the recorded runs (a replayed
vvencFFapp, see vvenc_recorded.py). With FCBENCH_VVENC_ENCODER set, the real encoder must
reproduce the recorded bitstreams byte for byte."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from fcbench.codecs import get_codec, pack_container, unpack_container
from fcbench.codecs.backends import vtm_log
from fcbench.codecs.backends._av import decode_single_frame
from fcbench.codecs.backends._binary import ToolError
from fcbench.codecs.chain.yuv import read_yuv400
from fcbench.codecs.measured_rate import container_rate
from fcbench.codecs.protocol import Conditions
from tests.codecs.traditional.vvenc_recorded import RECORDED, RUNS, VERSION, VVENC, Run, replay_tool

IDS = [r.stem for r in RUNS]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_every_recorded_run_is_here():
    assert len(RUNS) == 18  # 3 frames x presets medium, faster x QP 22, 32, 42
    assert {(r.preset, r.qp) for r in RUNS} == {(p, q) for p in ("medium", "faster") for q in (22, 32, 42)}
    for run in RUNS:
        data = run.bitstream.read_bytes()
        assert len(data) == run.bitstream_bytes and sha256(data) == run.bitstream_sha256


def test_version_banner():
    assert vtm_log.parse_version((VVENC / "vvencFFapp.version.log").read_text()) == VERSION


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_real_log_parses_and_matches_its_bitstream(run: Run):
    log = run.log.read_text()
    parsed = vtm_log.parse_encoder_log(log)
    assert parsed.version == VERSION
    assert [(p.poc, p.nal_type, p.slice_type, p.qp) for p in parsed.pictures] == [(0, "IDR_N_LP", "I-SLICE", run.qp)]
    # VVenC's picture line counts every byte of the file, as VTM's does (all 18 runs)
    assert parsed.total_bits == 8 * run.bitstream_bytes
    get_codec("vvenc", decoder="pyav").check_encoder_log(log, run.bitstream.read_bytes(), run.qp)


def test_bits_and_qp_cross_checks_reject_a_mismatched_run():
    codec = get_codec("vvenc", decoder="pyav")
    run22 = next(r for r in RUNS if r.stem == "sd3_like.medium.qp22")
    run32 = next(r for r in RUNS if r.stem == "sd3_like.medium.qp32")
    with pytest.raises(ToolError, match="log reports 68696 bits, the bitstream has 40736"):
        codec.check_encoder_log(run22.log.read_text(), run32.bitstream.read_bytes(), 22)
    with pytest.raises(ToolError, match="QP 22, asked for QP 32"):
        codec.check_encoder_log(run22.log.read_text(), run22.bitstream.read_bytes(), 32)
    with pytest.raises(ToolError, match="no picture line"):
        codec.check_encoder_log("vvencFFapp: VVenC, the Fraunhofer H.266/VVC Encoder, version 1.14.0\n",
                                run22.bitstream.read_bytes(), 22)


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_pyav_decodes_the_recorded_frame(run: Run):
    frame = decode_single_frame(run.bitstream.read_bytes(), "vvc")
    meta = RECORDED[run.frame]
    assert frame.shape == (meta["frame_rows"], meta["frame_cols"])
    assert sha256(frame.astype("<u2").tobytes()) == run.decoded_sha256


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_container_around_the_recorded_bitstream(run: Run):
    """The packed frame is the recorded input, the container holds the bitstream as is, the rate
    counts its real bytes and decoding gives the recorded frame."""
    codec = get_codec("vvenc", preset=run.preset, decoder="pyav")
    header, frame = codec.to_frame(run.feature(), run.qp, Conditions(**run.conditions()))
    np.testing.assert_array_equal(frame, read_yuv400(run.yuv, *frame.shape, 10))
    bitstream = run.bitstream.read_bytes()
    data = pack_container(header, bitstream)
    rate = container_rate(data)
    assert rate.bitstream_bytes == run.bitstream_bytes and rate.total_bytes == len(data)
    assert rate.bpfp == 8 * run.bitstream_bytes / run.feature().size  # the encoder's own bytes
    assert rate.container_bytes == len(data) - run.bitstream_bytes
    _, decoded = codec.decode_to_frame(data)
    assert sha256(decoded.astype("<u2").tobytes()) == run.decoded_sha256


def test_command_line_is_the_recorded_one(tmp_path):
    for run in RUNS:
        codec = get_codec("vvenc", preset=run.preset, decoder="pyav")
        meta = RECORDED[run.frame]
        argv = codec.encoder_argv(tmp_path / "vvencFFapp", "<frame.yuv>", "<out.bin>", meta["frame_rows"],
                                  meta["frame_cols"], run.qp, 10)
        assert tuple(argv[1:]) == run.argv, run.stem


@pytest.fixture
def no_vvenc_env(monkeypatch, tmp_path):
    for var in ("FCBENCH_VVENC_ENCODER", "FCBENCH_VVDEC_DECODER"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_driver_against_the_recorded_run(no_vvenc_env, tmp_path, run: Run):
    """encode() with a replayed vvencFFapp: exact argv, exact input frame, the real log accepted,
    the payload is the recorded bitstream, the identity carries the real version banner."""
    tool = replay_tool(tmp_path / "vvencFFapp", run)
    codec = get_codec("vvenc", preset=run.preset, encoder=tool, decoder="pyav")
    assert codec.identity["version"] == VERSION
    data = codec.encode(run.feature(), run.qp, **run.conditions())
    header, payload = unpack_container(data)
    assert payload == run.bitstream.read_bytes()
    assert header.codec == "vvenc" and header.rate_point == run.qp
    _, decoded = codec.decode_to_frame(data)
    assert sha256(decoded.astype("<u2").tobytes()) == run.decoded_sha256


def test_replay_refuses_another_command_line(no_vvenc_env, tmp_path):
    """The stand-in is strict: the same run asked at another preset does not pass."""
    run = next(r for r in RUNS if r.stem == "llama3_like.medium.qp32")
    codec = get_codec("vvenc", preset="faster", encoder=replay_tool(tmp_path / "vvencFFapp", run), decoder="pyav")
    with pytest.raises(ToolError, match="exited with status 9(.|\n)*unexpected command line"):
        codec.encode(run.feature(), run.qp, **run.conditions())


@pytest.mark.vvenc
@pytest.mark.skipif(not os.environ.get("FCBENCH_VVENC_ENCODER"), reason="VVenC not configured: set FCBENCH_VVENC_ENCODER")
@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_real_vvenc_reproduces_the_recorded_bitstream(run: Run):
    codec = get_codec("vvenc", preset=run.preset, decoder="pyav")
    if codec.identity["version"] != VERSION:
        pytest.skip(f"the recorded runs were made with VVenC {VERSION}, this vvencFFapp is {codec.identity['version']}")
    data = codec.encode(run.feature(), run.qp, **run.conditions())
    _, payload = unpack_container(data)
    assert sha256(payload) == run.bitstream_sha256  # byte-identical to the recorded .bin
    _, decoded = codec.decode_to_frame(data)
    assert sha256(decoded.astype("<u2").tobytes()) == run.decoded_sha256
