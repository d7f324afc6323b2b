"""BPFP as the paper counts it: the codec's bitstream (+ coded side information), the
container apart; a codec with a side channel only has to say how its payload splits."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from fcbench.codecs import FeatureSet, get_codec, pack_container, unpack_container
from fcbench.codecs.backends.bypass import BypassCodec
from fcbench.codecs.chain.container import Header
from fcbench.codecs.chain.rate import PayloadParts, ebpfp
from fcbench.codecs.measured_rate import container_rate
from fcbench.codecs.registry import register
from fcbench.codecs.sweeps.run import ROW_FIELDS, SUMMARY_FIELDS, run_sweep

COND = {"low": -5.0, "high": 5.0, "layout": "generic", "bit_depth": 10}
SIDE = struct.Struct("<I")


@register("test-side-channel")
class SideChannelCodec(BypassCodec):
    """bypass + a fake 'side channel' of 3 bytes per frame row, written before the stream:
    payload = u32 side length | side bytes | bypass stream."""

    def encode_frame(self, frame, rate_point, bit_depth):
        side = bytes(3 * frame.shape[0])
        return SIDE.pack(len(side)) + side + super().encode_frame(frame, rate_point, bit_depth)

    def decode_frame(self, payload, header):
        (n,) = SIDE.unpack_from(payload)
        return super().decode_frame(payload[SIDE.size + n:], header)

    @classmethod
    def payload_parts(cls, payload, header):
        (n,) = SIDE.unpack_from(payload)
        return PayloadParts(bitstream_bytes=len(payload) - SIDE.size - n, side_bytes=n)


def _feature(shape=(1, 2, 16, 24), seed=0, dtype=np.float32):
    return np.random.default_rng(seed).normal(0, 2, shape).astype(dtype)


def test_plain_codec_bitstream_is_its_payload():
    data = get_codec("bypass").encode(_feature(), 0, **COND)
    header, payload = unpack_container(data)
    rate = container_rate(data)
    n = 2 * 16 * 24
    assert rate.points == n and rate.bitstream_bytes == len(payload) == n * 10 // 8
    assert rate.bpfp == 10.0 and rate.side_bytes == 0 and rate.side_bpfp == 0.0
    assert rate.container_bytes == len(data) - len(payload) and rate.container_bpfp == 8 * rate.container_bytes / n
    assert rate.total_bytes == len(data)


def test_side_information_counts_in_bpfp_and_is_reported_apart():
    x = _feature()
    data = get_codec("test-side-channel").encode(x, 0, **COND)
    np.testing.assert_array_equal(get_codec("test-side-channel").decode(data), get_codec("bypass").decode(
        get_codec("bypass").encode(x, 0, **COND)).astype(np.float32))
    rate = container_rate(data)
    header, _ = unpack_container(data)
    n, side = x.size, 3 * header.frame[0]
    assert rate.side_bytes == side and rate.bitstream_bytes == n * 10 // 8
    assert rate.bpfp == 8 * (n * 10 // 8 + side) / n
    assert rate.side_bpfp == 8 * side / n
    assert rate.container_bytes == len(data) - rate.bitstream_bytes - side  # incl. the u32 side length
    assert rate.container_bpfp == pytest.approx(8 * (len(data) - n * 10 // 8 - side) / n)


def test_ebpfp_comes_from_the_same_bpfp():
    x = _feature(dtype=np.float16)
    rate = container_rate(get_codec("bypass").encode(x, 0, **COND))
    assert rate.ebpfp == 2 * rate.bpfp == ebpfp(rate.bpfp, "float16")
    assert container_rate(get_codec("bypass").encode(x.astype(np.float32), 0, **COND), "bfloat16").ebpfp == 20.0


def test_unknown_codec_and_impossible_parts_are_clear_errors():
    header = Header(codec="no-such-codec", rate_point=0, shape=(1, 1, 2, 2), dtype="float32", layout="generic",
                    frame=(2, 2), transform="uniform", bit_depth=10, low=(0.0,), high=(1.0,), truncated=True)
    with pytest.raises(ValueError, match="cannot split the payload of a 'no-such-codec' container"):
        container_rate(pack_container(header, b"1234"))
    with pytest.raises(ValueError, match="exceed the 4-byte payload"):
        PayloadParts(bitstream_bytes=3, side_bytes=2).check(4, "x")


def _featureset(root, n=2):
    fs = FeatureSet.create(root, model="m", task="t", split_point="s")
    for i in range(n):
        fs.write(f"s{i}", _feature(seed=i))
    return fs


def test_sweep_rows_and_summary_carry_every_rate_column(tmp_path):
    fs = _featureset(tmp_path / "f")
    res = run_sweep(fs.root, "test-side-channel", {}, [0], COND, tmp_path / "o", jobs=1, progress=False)
    assert set(ROW_FIELDS) <= set(res.rows[0]) and set(SUMMARY_FIELDS) == set(res.summary[0])
    row, summary = res.rows[0], res.summary[0]
    assert row["side_bytes"] == 48 and row["bpfp"] == pytest.approx(10 + 8 * 48 / 768)
    assert summary["side_bpfp"] == pytest.approx(0.5) and summary["bpfp"] == pytest.approx(10.5)
    assert summary["container_bpfp"] == pytest.approx(np.mean([r["container_bpfp"] for r in res.rows]))
    header = (tmp_path / "o" / "results.csv").read_text().splitlines()[0].split(",")
    assert header == list(ROW_FIELDS)


def test_cached_jobs_are_recounted_under_todays_rule(tmp_path):
    """A cache entry written under an older rule (bpfp = every container byte) reports the
    paper's bpfp on a rerun: the rate comes from the cached container, not the stored number."""
    fs = _featureset(tmp_path / "f")
    first = run_sweep(fs.root, "bypass", {}, [0], COND, tmp_path / "o", jobs=1, progress=False)
    for meta in (tmp_path / "o" / "cache").glob("??/*.json"):
        doc = json.loads(meta.read_text())
        m = doc["metrics"]
        doc["metrics"] = {"bytes": m["bytes"], "header_bytes": m["container_bytes"], "payload_bytes": m["bitstream_bytes"],
                          "points": m["points"], "bpfp": 8 * m["bytes"] / m["points"], "ebpfp": 8 * m["bytes"] / m["points"],
                          **{k: m[k] for k in ("mse", "psnr_q", "enc_s", "dec_s")}}
        meta.write_text(json.dumps(doc))
    again = run_sweep(fs.root, "bypass", {}, [0], COND, tmp_path / "o", jobs=1, progress=False)
    assert again.cache_hits == 2
    assert [r["bpfp"] for r in again.rows] == [r["bpfp"] for r in first.rows] == [10.0, 10.0]
    assert all("header_bytes" not in r for r in again.rows)
