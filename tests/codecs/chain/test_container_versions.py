"""Container formats 1 and 2: old containers decode, the paper's chain still writes format 1
byte for byte, format 2 round-trips its additions and refuses damage by name."""
import json
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcbench.codecs import ContainerError, Header, get_codec, pack_container, unpack_container
from fcbench.codecs.chain.container import FORMAT_VERSION, format_version
from tests.conftest import FIXTURES

V1 = FIXTURES / "containers_v1"
CASES = json.loads((V1 / "fixtures.json").read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_version_1_containers_decode_as_before(name):
    case = CASES[name]
    data = (V1 / f"{name}.bin").read_bytes()
    assert data[4] == 1
    np.testing.assert_array_equal(get_codec(case["codec"]).decode(data), np.load(V1 / f"{name}.recon.npy"))


@pytest.mark.parametrize("name", [n for n in sorted(CASES) if CASES[n]["codec"] in ("bypass", "lossless")])
def test_the_paper_chain_still_writes_version_1_byte_for_byte(name):
    case = CASES[name]
    feature = np.load(V1 / case["feature"])
    data = get_codec(case["codec"]).encode(feature, case["rate_point"], **case["conditions"])
    assert data == (V1 / f"{name}.bin").read_bytes()


def header(**over) -> Header:
    base = dict(codec="bypass", rate_point=0, shape=(1, 1, 8, 24), dtype="float32", layout="llama3", frame=(8, 24),
                transform="uniform", bit_depth=10, low=(-5.0,), high=(5.0,), truncated=True)
    base.update(over)
    return Header(**base)


def table(n: int = 24) -> dict:
    return dict(low=tuple(float(v) for v in np.linspace(-3, -1, n, dtype=np.float32)),
                high=tuple(float(v) for v in np.linspace(1, 4, n, dtype=np.float32)), range_axis=3)


@pytest.mark.parametrize("over,version", [
    ({}, 1),
    ({"low": (-1.0, -2.0, -10.0, -20.0), "high": (1.0, 2.0, 10.0, 20.0)}, 1),
    ({"outliers": b"\x01\x03\x0a\x00\x00\x00\x00"}, 2),
    (table(), 2),
    ({**table(), "range_axis": 1}, 2),  # a long float32 table is stored compactly
    ({"low": (-1.1,) * 24, "high": (1.1,) * 24, "range_axis": 3}, 2),  # not float32-exact: float64 pairs
])
def test_format_2_is_written_only_for_its_additions(over, version):
    h = header(**over)
    data = pack_container(h, b"payload")
    assert data[4] == format_version(h) == version <= FORMAT_VERSION
    back, payload = unpack_container(data)
    assert back == h and payload == b"payload"


def test_side_bytes_are_the_section():
    h = header(outliers=b"\x01\x03\x0a\x00\x00\x00\x00")
    assert h.side_bytes == 7 and header().side_bytes == 0


def _recrc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_damaged_format_2_is_refused_by_name():
    data = pack_container(header(**table(), outliers=b"\x01\x03\x0a\x00\x00\x00\x00"), b"xyz")
    body = data[:-4]
    ranges_at = body.index(struct.pack("<BBI", 3, 1, 24))
    with pytest.raises(ContainerError, match="unknown range storage code 7"):
        unpack_container(_recrc(body[:ranges_at + 1] + b"\x07" + body[ranges_at + 2:]))
    size_at = ranges_at + 6
    (size,) = struct.unpack_from("<I", body, size_at)
    junk = body[:size_at + 4] + b"\x00" * size + body[size_at + 4 + size:]
    with pytest.raises(ContainerError, match="range table does not decompress"):
        unpack_container(_recrc(junk))
    section_at = body.index(b"\x01" + struct.pack("<I", 7) + b"\x01\x03\x0a")
    with pytest.raises(ContainerError, match="unknown or repeated section tag 5"):
        unpack_container(_recrc(body[:section_at] + b"\x05" + body[section_at + 1:]))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_flipped_byte_of_format_2_is_detected(data):
    blob = pack_container(header(**table(), outliers=b"\x01\x03\x0a\x00\x00\x00\x00"), bytes(range(50)))
    pos = data.draw(st.integers(0, len(blob) - 1))
    flipped = bytearray(blob)
    flipped[pos] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ContainerError):
        unpack_container(bytes(flipped))
