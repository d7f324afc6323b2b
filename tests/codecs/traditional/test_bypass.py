"""bypass (QP0: quantized samples stored raw) and lossless (zstd) reference points."""
from __future__ import annotations

import numpy as np
import pytest

from fcbench.codecs import ContainerError, get_codec, pack_container, unpack_container
from fcbench.codecs.backends.bypass import pack_bits, unpack_bits
from fcbench.codecs.measured_rate import container_rate
from fcbench.codecs.protocol import Conditions
from tests.codecs.traditional.helpers import smooth_feature

COND = dict(low=-5.0, high=5.0, layout="llama3")


@pytest.mark.parametrize("bits", [1, 7, 8, 10, 12, 16])
def test_bit_packing_round_trip(bits):
    rng = np.random.default_rng(bits)
    frame = rng.integers(0, 2**bits, size=(7, 13), dtype=np.uint16)
    data = pack_bits(frame, bits)
    assert len(data) == -(-frame.size * bits // 8)
    np.testing.assert_array_equal(unpack_bits(data, frame.size, bits).reshape(7, 13), frame)
    with pytest.raises(ContainerError):
        unpack_bits(data + b"\0", frame.size, bits)


@pytest.mark.parametrize("name", ["bypass", "lossless"])
def test_exact_at_the_quantized_samples(name):
    codec = get_codec(name)
    feature = smooth_feature((1, 1, 48, 320), seed=2)
    data = codec.encode(feature, 0, **COND)
    _, decoded = codec.decode_to_frame(data)
    np.testing.assert_array_equal(decoded, codec.to_frame(feature, 0, Conditions(**COND))[1])
    recon = codec.decode(data)
    step = 10.0 / 1023
    assert np.max(np.abs(recon - np.clip(feature, -5, 5))) <= step / 2 + 1e-6


def test_bypass_rate_is_the_bit_depth_and_lossless_is_below_it():
    feature = smooth_feature((1, 1, 64, 512), seed=4)
    points = feature.size
    raw = get_codec("bypass").encode(feature, 0, **COND)
    rate = container_rate(raw)
    assert rate.bitstream_bytes == points * 10 // 8 and rate.bpfp == 10.0
    assert rate.container_bpfp == 8 * (len(raw) - points * 10 // 8) / points
    zst = container_rate(get_codec("lossless").encode(feature, 0, **COND))
    assert zst.bpfp < rate.bpfp


def test_rate_point_is_zero_only_and_level_checked():
    for name in ("bypass", "lossless"):
        with pytest.raises(ValueError, match="rate point, 0"):
            get_codec(name).encode(smooth_feature((1, 1, 4, 4)), 22, **COND)
    with pytest.raises(ValueError, match="zstd level"):
        get_codec("lossless", level=40)


def test_corrupt_lossless_payload():
    codec = get_codec("lossless")
    data = codec.encode(smooth_feature((1, 1, 8, 64)), 0, **COND)
    header, payload = unpack_container(data)
    with pytest.raises(ContainerError, match="zstd"):
        codec.decode(pack_container(header, payload[:-5]))
