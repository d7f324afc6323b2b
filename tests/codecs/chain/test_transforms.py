"""Truncation, uniform quantization and normalisation (docs/test-conditions.md §3)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fcbench.codecs import denormalize, dequantize, normalize, quantize, truncate

finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, width=32)
features = arrays(np.float32, st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)), elements=finite)
ranges = st.tuples(st.floats(-100, 0, allow_nan=False), st.floats(0.01, 100, allow_nan=False))


def reference_legacy(x, low, high, bit_depth, clip=True):
    """The reference's truncation + uniform_quantization + uniform_dequantization, as
    docs/test-conditions.md §3 states them."""
    if clip:
        x = np.clip(x, low, high)
    scale = (2**bit_depth - 1) / (high - low)
    q = ((x - low) * scale).astype(np.uint16)
    return q, q.astype(np.float32) / scale + low


@settings(max_examples=60, deadline=None)
@given(features, ranges, st.integers(1, 16))
def test_round_mode_error_is_at_most_half_a_step(x, rng, bit_depth):
    low, high = rng
    q = quantize(truncate(x, low, high), low, high, bit_depth)
    assert q.max(initial=0) <= 2**bit_depth - 1
    rec = dequantize(q, low, high, bit_depth)
    step = (high - low) / (2**bit_depth - 1)
    err = np.abs(rec.astype(np.float64) - np.clip(x, low, high).astype(np.float64))
    assert err.max() <= step / 2 + 1e-5 * max(abs(low), abs(high), 1.0)


@settings(max_examples=60, deadline=None)
@given(features, ranges, st.integers(1, 16))
def test_legacy_equals_reference_to_the_bit(x, rng, bit_depth):
    low, high = rng
    q = quantize(truncate(x, low, high), low, high, bit_depth, mode="legacy")
    rec = dequantize(q, low, high, bit_depth, mode="legacy")
    q_ref, rec_ref = reference_legacy(x, low, high, bit_depth)
    np.testing.assert_array_equal(q, q_ref)
    np.testing.assert_array_equal(rec, rec_ref)


def test_legacy_without_truncation_wraps_like_the_reference():
    x = np.array([-30.0, 0.0, 30.0], dtype=np.float32).reshape(1, 1, 1, 3)
    q = quantize(x, -20, 20, 10, mode="legacy")
    q_ref, _ = reference_legacy(x, -20, 20, 10, clip=False)
    np.testing.assert_array_equal(q, q_ref)
    # round mode clips instead of wrapping
    np.testing.assert_array_equal(quantize(x, -20, 20, 10).ravel(), [0, 512, 1023])


def test_legacy_has_the_floor_bias_round_does_not():
    x = np.random.default_rng(0).uniform(-5, 5, size=(1, 1, 64, 64)).astype(np.float32)
    legacy = dequantize(quantize(x, -5, 5, 10, "legacy"), -5, 5, 10, "legacy") - x
    rounded = dequantize(quantize(x, -5, 5, 10), -5, 5, 10) - x
    step = 10 / 1023
    assert legacy.mean() == pytest.approx(-step / 2, rel=0.05)
    assert abs(rounded.mean()) < step / 20


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, (2, 4, 3, 5), elements=finite))
def test_per_channel_truncation_uses_each_channels_range(x):
    low, high = [-1.0, -2.0, -10.0, -20.0], [1.0, 2.0, 10.0, 20.0]
    t = truncate(x, low, high)
    for c in range(4):
        np.testing.assert_array_equal(t[:, c], np.clip(x[:, c], np.float32(low[c]), np.float32(high[c])))
    q = quantize(t, low, high, 10)
    rec = dequantize(q, low, high, 10)
    for c in range(4):
        assert np.abs(rec[:, c] - t[:, c]).max() <= (high[c] - low[c]) / 1023 / 2 + 1e-5 * high[c]


@settings(max_examples=40, deadline=None)
@given(features, ranges)
def test_normalize_round_trip(x, rng):
    low, high = rng
    t = truncate(x, low, high)
    y = normalize(t, low, high)
    assert y.dtype == np.float32 and y.min() >= -1e-6 and y.max() <= 1 + 1e-6
    np.testing.assert_allclose(denormalize(y, low, high), t, atol=1e-5 * max(abs(low), high, 1))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: quantize(x, 1, -1, 10), "high must exceed"),
        (lambda x: quantize(x, -1, 1, 17), "bit_depth"),
        (lambda x: quantize(x, -1, 1, 0), "bit_depth"),
        (lambda x: quantize(x, -1, 1, 10, mode="floor"), "unknown quantization mode"),
        (lambda x: quantize(x, [-1, -2], [1, 2], 10), "2 per-channel ranges for C=3"),
        (lambda x: truncate(x, [-1, -2, -3], [1, 2], ), "differ in length"),
        (lambda x: quantize(np.full_like(x, np.nan), -1, 1, 10), "NaN"),
        (lambda x: dequantize(x, -1, 1, 10), "must be integers"),
    ],
)
def test_bad_input_is_named(call, message):
    x = np.zeros((1, 3, 2, 2), dtype=np.float32)
    with pytest.raises((ValueError, TypeError), match=message):
        call(x)


def reference_legacy_per_channel(x, lows, highs, bit_depth):
    """The reference's per-channel truncation (each clipped channel stored into a float32 array)
    and per-channel uniform quantization."""
    clipped = np.zeros_like(x).astype(np.float32)
    for c in range(len(lows)):
        clipped[:, c] = np.clip(x[:, c], lows[c], highs[c])
    q = np.zeros_like(clipped)
    for c in range(len(lows)):
        q[:, c] = (clipped[:, c] - lows[c]) * ((2**bit_depth - 1) / (highs[c] - lows[c]))
    return q.astype(np.uint16)


def test_float16_legacy_is_the_reference_arithmetic_on_every_sample():
    """SD3's latents are float16 and the reference quantizes them in float16 arithmetic: the paper
    chain's frame equals the reference's quantized samples on every sample of a test set, for the
    test conditions' scalar range and for per-channel ranges (and a float32 computation would not)."""
    from fcbench.codecs import get_codec
    from fcbench.codecs.chain.packing import unpack

    codec = get_codec("bypass")
    rng = np.random.default_rng(7)
    low, high = -6.176, 4.668  # sd3/tti traditional range of the test conditions
    lows, highs = list(rng.uniform(-7, -3, 16)), list(rng.uniform(3, 6, 16))
    differs = 0
    for sample in range(8):
        x = (rng.standard_normal((1, 16, 32, 32)) * 2.2).astype(np.float16)
        for lo, hi, expected in ((low, high, reference_legacy(x, low, high, 10)[0]),
                                 (lows, highs, reference_legacy_per_channel(x, lows, highs, 10))):
            data, frame = codec.encode_keeping_frame(x, 0, low=lo, high=hi, bit_depth=10, layout="sd3", quant="legacy")
            np.testing.assert_array_equal(unpack(frame, x.shape, "sd3"), expected, err_msg=f"sample {sample}")
        as_float32 = quantize(truncate(x, low, high), low, high, 10, mode="legacy")
        differs += int(np.count_nonzero(as_float32 != reference_legacy(x, low, high, 10)[0]))
    assert differs > 0  # the float16 arithmetic is what makes the difference
