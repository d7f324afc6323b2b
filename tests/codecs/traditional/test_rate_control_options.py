"""Codec options may not change the rate control behind the rate point (issue #12 item 3).

Before the fix, get_codec("x265", extra_params="qp=10") coded at QP 10 while the container, the
cache key and every result said QP 32. One rule for every in-process codec with free-form
encoder parameters (x265, av1): a parameter that sets the rate, the quantizer or how it adapts,
or one that fcbench fixes itself, is refused when the codec is built, naming it.
"""
from __future__ import annotations

import numpy as np
import pytest

from fcbench.codecs import get_codec, unpack_container

FEATURE = np.random.default_rng(0).normal(0, 2, (1, 1, 64, 64)).astype(np.float32)
COND = dict(low=-5.0, high=5.0, layout="generic", bit_depth=10)

X265_REFUSED = ["qp=10", "crf=18", "bitrate=500", "lossless=1", "vbv-maxrate=100", "qpmin=30", "qpmax=20",
                "aq-mode=2", "aq-strength=2", "ipratio=1.4", "keyint=50", "info=1", "cutree=1", "no-cutree=1",
                "rd=6:qp=10", "qp_adaptation_range=2", "pass=2", "zones=0,10,q=10"]
AV1_REFUSED = ["crf=10", "qp=10", "rc=1", "tbr=500", "mbr=900", "min-qp=20", "max-qp=30", "aq-mode=2",
               "enable-variance-boost=1", "lossless=1", "keyint=30", "irefresh-type=1", "enable-tf=1",
               "tune=0", "key-frame-qindex-offset=-20", "qindex-offsets=1", "lp=4", "passes=2",
               "enable_variance_boost=1"]


@pytest.mark.parametrize("params", X265_REFUSED)
def test_x265_refuses_rate_control_parameters(params):
    key = params.split(":")[-1].split("=")[0]
    with pytest.raises(ValueError, match=f"x265 extra_params.*'{key}'"):
        get_codec("x265", extra_params=params)


@pytest.mark.parametrize("params", AV1_REFUSED)
def test_av1_refuses_rate_control_parameters(params):
    key = params.split("=")[0]
    with pytest.raises(ValueError, match=f"av1 extra_params.*'{key}'"):
        get_codec("av1", extra_params=params)


def test_other_parameters_still_pass_and_code_at_the_asked_qp():
    codec = get_codec("x265", preset="fast", extra_params="sao=0:rdoq-level=0")
    data = codec.encode(FEATURE, 32, **COND)
    header, _ = unpack_container(data)
    assert header.rate_point == 32
    # a parameter outside the rate control changes the stream, so it is part of the identity
    assert codec.identity["options"]["extra_params"] == "sao=0:rdoq-level=0"
    plain = get_codec("x265", preset="fast").encode(FEATURE, 32, **COND)
    assert plain != data


def test_malformed_parameters_are_named():
    for codec in ("x265", "av1"):
        with pytest.raises(ValueError, match=f"{codec} extra_params must look like 'key=value:key=value'"):
            get_codec(codec, extra_params="--qp 3")


# Spellings the encoders accept for the same names (x265 drops "--", reads "no"/"no-" as "off").
X265_RESPELLED = ["--qp=10", "noqp=10", "--crf=20", "--bitrate=50", "--ipratio=0.5", "--lossless=1", "no-crf=1",
                  "--aq_mode=0"]


@pytest.mark.parametrize("params", X265_RESPELLED)
def test_x265_refuses_rate_control_however_it_is_spelt(params):
    key = params.split("=")[0]
    with pytest.raises(ValueError, match=f"x265 extra_params may not set '{key}'"):
        get_codec("x265", extra_params=params)


@pytest.mark.parametrize("codec, params, key", [
    ("x265", "foo=bar", "foo"), ("x265", "rdoq-levle=0", "rdoq-levle"), ("x265", "QP=5", "QP"),
    ("x265", "sao=0:nosuch=1", "nosuch"), ("av1", "--crf=10", "--crf"), ("av1", "--min-qp=60", "--min-qp"),
    ("av1", "enable-cdef=0:foo=1", "foo"),
])
def test_parameters_the_encoder_does_not_know_are_refused(codec, params, key):
    """The encoder's own verdict (a probe encode; FFmpeg's wrappers only warn and ignore them):
    an unknown or misspelt name would be written into the identity and silently ignored."""
    with pytest.raises(ValueError, match=f"{codec} extra_params holds parameters the encoder rejects.*'{key}'"):
        get_codec(codec, extra_params=params)


def test_known_parameters_pass_the_encoders_check():
    assert get_codec("x265", extra_params="sao=0:rdoq-level=0:psy-rd=0").extra_params
    assert get_codec("av1", extra_params="enable-cdef=0").extra_params
