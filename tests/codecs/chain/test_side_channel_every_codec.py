"""The outlier side channel and fitted ranges through every registered codec and every layout:
round trips, bits counted, the frame untouched, corrupt side channels refused."""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest

from fcbench.codecs import ContainerError, codec_names, container_rate, get_codec, unpack_container
from fcbench.codecs.chain import fitted_ranges
from fcbench.codecs.chain.container import header_size
from fcbench.codecs.registry import codec_class

# How to build each registered codec here, and a rate point it takes. A codec registered without
# an entry fails test_every_registered_codec_has_a_case: add one.
CASES = {
    "x265": (dict, 32, None),
    "av1": (dict, 32, None),  # rate point: a CRF
    "bypass": (dict, 0, None),
    "lossless": (dict, 0, None),
    "hyperprior": ("untrained", 0.01, None),
    "vtm": (dict, 32, "FCBENCH_VTM_ENCODER"),
    "vvenc": (dict, 32, "FCBENCH_VVENC_ENCODER"),
}
# Codecs that code every value themselves: the side channel does not apply, and they refuse it
# (tests/codecs/klt: "outlier side channel does not apply").
NOT_APPLICABLE = {"klt"}
LAYOUTS = {"llama3": (1, 1, 40, 64), "dinov2": (2, 4, 9, 24), "sd3": (1, 16, 8, 8), "generic": (1, 6, 10, 12)}
LOW, HIGH = -3.0, 3.0


def heavy(shape, seed=0) -> np.ndarray:
    """Smooth-ish Student-t body plus sparse spikes of +-20..60, as massive activations."""
    rng = np.random.default_rng(seed)
    x = rng.standard_t(4, shape) * 0.8
    spikes = rng.random(shape) < 0.01
    x[spikes] = rng.choice([-1, 1], int(spikes.sum())) * rng.uniform(20, 60, int(spikes.sum()))
    return x.astype(np.float32)


def test_every_registered_codec_has_a_case():
    shipped = {n for n in codec_names() if codec_class(n).__module__.startswith("fcbench.")}  # not tests' own
    assert sorted(shipped - set(CASES) - NOT_APPLICABLE) == []


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    made: dict = {}

    def get(name: str):
        kind, rate_point, env = CASES[name]
        if env and not os.environ.get(env):
            pytest.skip(f"{name} not configured: set {env}")
        if name not in made:
            if kind == "untrained":
                from tests.codecs.checkpoints import write_untrained_checkpoint

                ckpt = write_untrained_checkpoint(tmp_path_factory.mktemp("ckpt") / "untrained.pt")
                made[name] = get_codec(name, checkpoint=ckpt)
            else:
                made[name] = get_codec(name)
        return made[name], rate_point

    return get


def _max_error_at_outliers(x: np.ndarray, recon: np.ndarray, low, high) -> float:
    """Largest error where the side channel carries the value: excess of half a step or more
    (a smaller excess is left to the frame codec, clipped)."""
    step = (np.asarray(high) - np.asarray(low)) / 1023
    carried = np.abs(x - np.clip(x, low, high)) >= step / 2 + 1e-6
    assert carried.any()
    return float(np.abs(recon.astype(np.float64) - x)[carried].max())


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_side_channel_round_trip(build, name, layout):
    codec, rp = build(name)
    x = heavy(LAYOUTS[layout])
    cond = dict(low=LOW, high=HIGH, layout=layout)
    plain = codec.encode(x, rp, **cond)
    clipped = codec.encode(x, rp, outliers=True, outlier_fill="clip", **cond)
    filled = codec.encode(x, rp, outliers=True, **cond)
    # The frame codec codes the same truncated frame: the payload does not change.
    assert unpack_container(clipped)[1] == unpack_container(plain)[1]
    step = (HIGH - LOW) / 1023
    for data in (clipped, filled):
        header, payload = unpack_container(data)
        recon = codec.decode(data)
        assert recon.shape == x.shape and recon.dtype == x.dtype
        assert _max_error_at_outliers(x, recon, LOW, HIGH) <= step / 2 + 1e-4
        # Every side-channel byte counts in bpfp and is shown apart.
        rate = container_rate(data, codec=codec)
        assert rate.side_bytes == len(header.outliers) > 7
        assert rate.bpfp == pytest.approx(8 * (rate.bitstream_bytes + rate.side_bytes) / x.size)
        assert rate.container_bytes == len(data) - rate.bitstream_bytes - rate.side_bytes
    # Without the side channel the clipped outliers stay clipped.
    assert _max_error_at_outliers(x, codec.decode(plain), LOW, HIGH) > 10


@pytest.mark.parametrize("name", sorted(CASES))
def test_fitted_ranges_with_and_without_the_side_channel(build, name):
    codec, rp = build(name)
    table = fitted_ranges.fit([heavy((1, 1, 60, 64), seed=s) for s in (1, 2)], axis=3, tail=0.01)
    x = heavy((1, 1, 40, 64), seed=3)
    lo, hi = np.asarray(table.low), np.asarray(table.high)
    for side in (False, True):
        data = codec.encode(x, rp, layout="llama3", outliers=side, **table.conditions())
        header, _ = unpack_container(data)
        assert header.range_axis == 3 and list(header.low) == table.low
        recon = codec.decode(data)
        if side:
            step = ((hi - lo) / 1023).max()
            assert _max_error_at_outliers(x, recon, lo, hi) <= step / 2 + 1e-4
        else:
            assert np.all(recon >= lo - 1e-4) and np.all(recon <= hi + 1e-4)


@pytest.mark.parametrize("name", sorted(CASES))
def test_corrupt_side_channel_is_refused_with_its_name(build, name):
    codec, rp = build(name)
    x = heavy(LAYOUTS["llama3"])
    data = codec.encode(x, rp, low=LOW, high=HIGH, layout="llama3", outliers=True)
    header, payload = unpack_container(data)
    # Damage inside the section with a valid CRC (what a buggy writer would produce).
    section = bytearray(header.outliers)
    section[3:7] = struct.pack("<I", struct.unpack_from("<I", section, 3)[0] + 5)
    at = data.index(bytes(header.outliers))  # the section precedes the payload
    assert at < header_size(data)
    body = data[:at] + bytes(section) + data[at + len(section):-4]
    damaged = body + struct.pack("<I", zlib.crc32(body))
    with pytest.raises(ContainerError, match="corrupted outlier side channel: position stream holds"):
        codec.decode(damaged)
    flipped = bytearray(data)
    flipped[at + 8] ^= 0x40
    with pytest.raises(ContainerError, match="CRC"):
        codec.decode(bytes(flipped))


def test_side_channel_options_are_checked():
    codec = get_codec("bypass")
    x = heavy((1, 1, 8, 16))
    with pytest.raises(ValueError, match="needs a truncation range"):
        codec.encode(x, 0, outliers=True, layout="llama3")
    with pytest.raises(ValueError, match="needs a truncation range"):
        codec.encode(x, 0, low=-1, high=1, truncate=False, outliers=True, layout="llama3")
    with pytest.raises(ValueError, match="outlier precision"):
        codec.encode(x, 0, low=-1, high=1, outliers=True, outlier_bits=30, layout="llama3")
    with pytest.raises(ValueError, match="unknown outlier_fill"):
        codec.encode(x, 0, low=-1, high=1, outliers=True, outlier_fill="mean", layout="llama3")
    with pytest.raises(ValueError, match="outliers is on or off"):
        codec.encode(x, 0, low=-1, high=1, outliers="yes", layout="llama3")
    with pytest.raises(ValueError, match="range_axis must be"):
        codec.encode(x, 0, low=-1, high=1, range_axis=0, layout="llama3")


def test_nothing_outside_gives_the_paper_chain_container():
    codec = get_codec("bypass")
    x = np.clip(heavy((1, 1, 8, 16)), -1, 1)
    cond = dict(low=-1, high=1, layout="llama3")
    assert codec.encode(x, 0, outliers=True, **cond) == codec.encode(x, 0, **cond)
