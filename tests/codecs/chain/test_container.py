"""The bitstream container: round trip, compactness, corruption detection."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcbench.codecs import ContainerError, Header, pack_container, unpack_container
from fcbench.codecs.chain.container import header_size


def make_header(**over):
    base = dict(
        codec="x265", rate_point=32, shape=(2, 4, 11, 6), dtype="float32", layout="dinov2",
        frame=(22, 24), transform="uniform", bit_depth=10, low=(-1.0, -2.0, -10.0, -20.0),
        high=(1.0, 2.0, 10.0, 20.0), truncated=True,
    )
    base.update(over)
    return Header(**base)


def test_round_trip_keeps_every_field():
    pts = np.linspace(-1, 1, 8, dtype=np.float32).reshape(1, 8)
    for h in (make_header(), make_header(rate_point=0.0035, transform="normalize", bit_depth=0),
              make_header(transform="nonlinear", bit_depth=3, points=pts, low=(-6.176,), high=(4.668,))):
        data = pack_container(h, b"payload-bytes")
        h2, payload = unpack_container(data)
        assert h2 == h and payload == b"payload-bytes"
        assert type(h2.rate_point) is type(h.rate_point)
        if h.points is not None:
            np.testing.assert_array_equal(h2.points, h.points)


def test_header_is_compact():
    # Every header byte is charged to the rate: a scalar-range header stays well under 100 B.
    data = pack_container(make_header(low=(-20.0,), high=(20.0,), shape=(1, 1, 257, 1536), frame=(257, 1536)), b"")
    assert header_size(data) == len(data) < 80


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_any_flipped_byte_or_truncation_is_detected(data):
    blob = pack_container(make_header(), bytes(range(200)))
    pos = data.draw(st.integers(0, len(blob) - 1))
    flipped = bytearray(blob)
    flipped[pos] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ContainerError):
        unpack_container(bytes(flipped))
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(ContainerError):
        unpack_container(blob[:cut])


def test_errors_say_what_is_wrong():
    blob = pack_container(make_header(), b"x" * 50)
    with pytest.raises(ContainerError, match="bad magic"):
        unpack_container(b"RIFF" + blob[4:])
    with pytest.raises(ContainerError, match="truncated"):
        unpack_container(blob[:-10])
    with pytest.raises(ContainerError, match="CRC"):
        unpack_container(blob[:-20] + bytes([blob[-20] ^ 1]) + blob[-19:])
    with pytest.raises(ContainerError, match="format version"):
        unpack_container(blob[:4] + bytes([99]) + blob[5:])
    with pytest.raises(ContainerError, match="trailing"):
        unpack_container(blob + b"\0")
