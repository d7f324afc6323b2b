"""Conditions and features the chain cannot code are refused with a message that says why, before
anything is coded; ranges whose float32 arithmetic would overflow are refused instead of
decoding to Inf (issue #12 items 7 and 14)."""
from __future__ import annotations

import numpy as np
import pytest

from fcbench.codecs import get_codec
from fcbench.codecs.chain.transforms import F32_MAX, check_ranges, dequantize, own_range
from fcbench.codecs.chain.yuv import frame_from_bytes, frame_to_bytes
from fcbench.codecs.protocol import Conditions


@pytest.mark.parametrize("value", [1e30, -1e30, 3e38, -3.4e38, 3.4e38, 0.0, 7.5])
def test_a_constant_feature_without_a_range_round_trips(value):
    x = np.full((1, 1, 4, 4), value, np.float32)
    y = get_codec("bypass").decode(get_codec("bypass").encode(x, 0))
    assert np.all(np.isfinite(y)) and np.allclose(y, x, rtol=1e-3)


def test_own_range_stays_inside_float32():
    assert own_range(np.array([2.0, 5.0])) == (2.0, 5.0)
    assert own_range(np.array([0.0])) == (0.0, 1.0)  # as before for ordinary values
    lo, hi = own_range(np.array([np.float32(F32_MAX)]))
    assert hi == float(np.float32(F32_MAX)) and lo < hi


@pytest.mark.parametrize("kwargs,message", [
    ({"low": [[0, 0]], "high": [[1, 1]]}, r"ranges must be scalars or 1-D per-channel lists"),
    ({"low": 0, "high": 1, "bit_depth": True}, r"bit_depth must be an integer in 1..16, got True"),
    ({"low": 0, "high": 1, "bit_depth": 10.0}, r"bit_depth must be an integer"),
    ({"low": "a", "high": 1}, r"ranges must be numbers"),
    ({"low": [], "high": []}, r"empty range lists"),
    ({"low": [0, 2], "high": [1, 1]}, r"truncation range \[2, 1\] \(channel 1\) is empty: every high must exceed its low"),
    ({"low": -3e38, "high": 3e38}, r"reaches beyond float32"),
    ({"low": 0, "high": 1e-36}, r"is narrower than"),
    ({"low": 0, "high": 1, "layout": "nope"}, r"unknown packing layout 'nope'"),
    ({"low": 0, "high": 1, "truncate": "yes"}, r"truncate is on or off"),
])
def test_bad_conditions_are_named_when_built(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Conditions(**kwargs)


def test_shape_checks_before_coding():
    c = Conditions(low=[0, 0, 0], high=[1, 1, 1], layout="dinov2")
    c.check_shape((1, 3, 2, 4))
    with pytest.raises(ValueError, match="3 per-channel ranges for C=2 channels"):
        c.check_shape((1, 2, 2, 4))
    with pytest.raises(ValueError, match="layout 'sd3' needs shape"):
        Conditions(layout="sd3").check_shape((1, 2, 2, 4))


def test_finite_float64_beyond_float32_is_not_called_non_finite():
    x = np.full((1, 1, 2, 2), 1e300)
    with pytest.raises(ValueError, match=r"feature of dtype float64 holds values up to 1e\+300, beyond float32"):
        get_codec("bypass").encode(x, 0)
    with pytest.raises(ValueError, match=r"non-finite values \(1 NaN, 0 Inf\)"):
        get_codec("bypass").encode(np.array([[[[np.nan, 1.0]]]]), 0)


def test_a_range_that_overflows_is_refused_not_decoded_to_inf():
    x = np.array([[[[3e38, -3e38]]]], np.float32)  # its own range spans 6e38
    with pytest.raises(ValueError, match=r"the feature.s own value range \(no range given\) \[-3e\+38, 3e\+38\] reaches beyond float32"):
        get_codec("bypass").encode(x, 0)
    with pytest.raises(ValueError, match="reaches beyond float32"):
        dequantize(np.zeros((1, 1, 1, 2), np.uint16), -3e38, 3e38, 10)
    lo, hi = check_ranges(-1e38, 1e38)
    assert (float(lo), float(hi)) == (-1e38, 1e38)


def test_a_frame_must_fit_its_bit_depth():
    frame = np.array([[0, 1023], [65535, 7]], np.uint16)
    data = frame_to_bytes(frame, 16)
    with pytest.raises(ValueError, match=r"sample value 65535, beyond 10-bit \(max 1023\)"):
        frame_from_bytes(data, 2, 2, 10)
    assert frame_from_bytes(frame_to_bytes(frame, 16), 2, 2, 16).tolist() == frame.tolist()
