"""Golden tests on the real VTM 23.13 outputs in tests/fixtures/vtm (no VTM needed)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from fcbench.codecs import get_codec, pack_container, unpack_container
from fcbench.codecs.backends import vtm_log
from fcbench.codecs.backends._av import AVError
from fcbench.codecs.backends._binary import ToolError
from fcbench.codecs.chain.yuv import read_yuv400
from fcbench.codecs.measured_rate import container_rate
from fcbench.codecs.protocol import Conditions

NAMES = ("llama3_like", "dinov2_like", "sd3_like")
QPS = (22, 32, 42)
CASES = [(n, q) for n in NAMES for q in QPS]


def conditions(meta: dict) -> Conditions:
    lo, hi = meta["trunc"]
    return Conditions(low=lo, high=hi, layout=meta["packing"], bit_depth=meta["bit_depth"])


def fixture_container(root: Path, meta: dict, name: str, qp: int) -> tuple[bytes, bytes]:
    """(container around the real VTM bitstream, the bitstream) as fcbench's vtm codec writes it."""
    codec = get_codec("vtm", decoder="pyav")
    feature = np.load(root / f"{name}.feature.npy")
    header, frame = codec.to_frame(feature, qp, conditions(meta))
    bitstream = (root / f"{name}.qp{qp}.bin").read_bytes()
    return pack_container(header, bitstream), bitstream


@pytest.mark.parametrize("name", NAMES)
def test_packed_frame_is_the_fixture_input(vtm_fixtures, fixture_meta, name):
    """Our truncate/quantize/pack produces exactly the .yuv that was fed to VTM."""
    meta = fixture_meta[name]
    codec = get_codec("vtm", decoder="pyav")
    header, frame = codec.to_frame(np.load(vtm_fixtures / f"{name}.feature.npy"), 22, conditions(meta))
    assert header.frame == (meta["frame_rows"], meta["frame_cols"])
    yuv = read_yuv400(vtm_fixtures / f"{name}.yuv", meta["frame_rows"], meta["frame_cols"], 10)
    np.testing.assert_array_equal(frame, yuv)


@pytest.mark.parametrize("name,qp", CASES)
def test_container_round_trip_and_bit_exact_pyav_decode(vtm_fixtures, fixture_meta, name, qp):
    meta = fixture_meta[name]
    data, bitstream = fixture_container(vtm_fixtures, meta, name, qp)
    assert hashlib.sha256(bitstream).hexdigest() == meta["qps"][str(qp)]["bitstream_sha256"]
    header, payload = unpack_container(data)
    assert payload == bitstream and header.codec == "vtm" and header.rate_point == qp
    codec = get_codec("vtm", decoder="pyav")
    _, decoded = codec.decode_to_frame(data)
    expected = read_yuv400(vtm_fixtures / f"{name}.qp{qp}.decoded.yuv", meta["frame_rows"], meta["frame_cols"], 10)
    np.testing.assert_array_equal(decoded, expected)
    assert hashlib.sha256(expected.astype("<u2").tobytes()).hexdigest() == meta["qps"][str(qp)]["decoded_sha256"]
    recon = codec.decode(data)
    assert recon.shape == tuple(meta["feature_shape"]) and recon.dtype == np.float32
    np.testing.assert_array_equal(recon, codec.from_frame(header, expected))


@pytest.mark.parametrize("name,qp", CASES)
def test_bpfp_is_the_vtm_bitstream_as_the_paper_counts_it(vtm_fixtures, fixture_meta, name, qp):
    """bpfp = 8 * size of the .bin VTM wrote / points; fcbench's header only in its own column."""
    meta = fixture_meta[name]
    data, bitstream = fixture_container(vtm_fixtures, meta, name, qp)
    points = int(np.prod(meta["feature_shape"]))
    rate = container_rate(data)
    assert len(bitstream) == meta["qps"][str(qp)]["bitstream_bytes"]
    assert rate.bpfp == 8 * len(bitstream) / points
    assert rate.bitstream_bytes == len(bitstream) and rate.side_bytes == 0 and rate.side_bpfp == 0
    assert rate.container_bytes == len(data) - len(bitstream) > 0
    assert rate.container_bpfp == 8 * (len(data) - len(bitstream)) / points
    assert rate.total_bytes == len(data) and rate.total_bpfp == pytest.approx(8 * len(data) / points)
    assert rate.ebpfp == rate.bpfp  # float32 origin


def test_dinov2_fixture_qp32_bpfp_exactly(vtm_fixtures, fixture_meta):
    data, _ = fixture_container(vtm_fixtures, fixture_meta["dinov2_like"], "dinov2_like", 32)
    size = (vtm_fixtures / "dinov2_like.qp32.bin").stat().st_size
    assert container_rate(data).bpfp == 8 * size / 15360  # 1x2x40x192 points


@pytest.mark.parametrize("name,qp", CASES)
def test_real_logs_parse_and_match_bitstreams(vtm_fixtures, name, qp):
    enc = (vtm_fixtures / f"{name}.qp{qp}.encoder.log").read_text()
    dec = (vtm_fixtures / f"{name}.qp{qp}.decoder.log").read_text()
    bitstream = (vtm_fixtures / f"{name}.qp{qp}.bin").read_bytes()
    parsed = vtm_log.parse_encoder_log(enc)
    assert parsed.version == "23.13"
    assert [(p.poc, p.slice_type, p.qp) for p in parsed.pictures] == [(0, "I-SLICE", qp)]
    assert parsed.total_bits == 8 * len(bitstream)
    assert vtm_log.parse_decoder_log(dec) == ("23.13", [qp])
    get_codec("vtm", decoder="pyav").check_encoder_log(enc, bitstream, qp)  # accepted as is


def test_log_cross_check_rejects_inconsistent_runs(vtm_fixtures):
    codec = get_codec("vtm", decoder="pyav")
    log22 = (vtm_fixtures / "sd3_like.qp22.encoder.log").read_text()
    bits32 = (vtm_fixtures / "sd3_like.qp32.bin").read_bytes()
    bits22 = (vtm_fixtures / "sd3_like.qp22.bin").read_bytes()
    with pytest.raises(ToolError, match="bits"):
        codec.check_encoder_log(log22, bits32, 22)
    with pytest.raises(ToolError, match="QP 22, asked for QP 27"):
        codec.check_encoder_log(log22, bits22, 27)
    with pytest.raises(vtm_log.LogError):
        vtm_log.parse_encoder_log("VVCSoftware: VTM Encoder Version 23.13\nno pictures here\n")


def test_corrupt_vvc_payload_is_an_error_not_garbage(vtm_fixtures, fixture_meta):
    data, bitstream = fixture_container(vtm_fixtures, fixture_meta["sd3_like"], "sd3_like", 22)
    header, _ = unpack_container(data)
    codec = get_codec("vtm", decoder="pyav")
    for bad in (bitstream[: len(bitstream) // 2], bitstream[:200] + bytes(b ^ 0xFF for b in bitstream[200:400]) + bitstream[400:]):
        with pytest.raises(AVError):
            codec.decode(pack_container(header, bad))


def test_container_of_another_codec_is_refused(vtm_fixtures, fixture_meta):
    data, _ = fixture_container(vtm_fixtures, fixture_meta["llama3_like"], "llama3_like", 32)
    with pytest.raises(ValueError, match="written by codec 'vtm'"):
        get_codec("x265").decode(data)
