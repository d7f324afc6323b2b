"""The outlier side channel (codecs/chain/outliers.py): finding, coding, validation, filling."""
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcbench.codecs.chain import outliers as O
from fcbench.codecs.chain.container import ContainerError
from fcbench.codecs.features.synthetic import heavy_tailed


def massive(tokens: int = 96, channels: int = 32, seed: int = 0) -> np.ndarray:
    return heavy_tailed("massive", tokens, channels, seed=seed)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2**63 - 1), max_size=40))
def test_varints_round_trip(values):
    v = np.asarray(values, dtype=np.uint64)
    data = O._varint_encode(v)
    np.testing.assert_array_equal(O._varint_decode(data, len(values), "test"), v)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-2**40, 2**40), max_size=40))
def test_zigzag_round_trip(values):
    k = np.asarray(values, dtype=np.int64)
    np.testing.assert_array_equal(O._unzigzag(O._zigzag(k)), k)


@pytest.mark.parametrize("range_axis,position_axis,per_entry", [(1, 3, False), (3, 3, True), (1, 1, True)])
def test_round_trip_restores_outliers_within_half_a_step(range_axis, position_axis, per_entry):
    x = massive() if range_axis != 1 or not per_entry else np.random.default_rng(1).standard_t(2, (2, 4, 6, 8)).astype(np.float32) * 3
    n = x.shape[range_axis]
    low = list(np.linspace(-3, -1, n)) if per_entry else -2.0
    high = list(np.linspace(1, 3, n)) if per_entry else 2.0
    found = O.find(x, low, high, range_axis, position_axis, 10)
    assert len(found) > 0
    back = O.decode(O.encode(found, x.shape), x.shape)
    np.testing.assert_array_equal(back.positions, found.positions)
    np.testing.assert_array_equal(back.steps, found.steps)
    lo, hi = (np.asarray(low).reshape([-1 if a == range_axis else 1 for a in range(4)]),
              np.asarray(high).reshape([-1 if a == range_axis else 1 for a in range(4)])) if per_entry else (low, high)
    recon = np.clip(x, lo, hi).astype(np.float32)
    O.apply(recon, back, low, high, range_axis)
    step = (np.asarray(high) - np.asarray(low)).max() / 1023
    assert np.abs(recon - x).max() <= step / 2 + 1e-4
    inside = (x >= lo) & (x <= hi)
    np.testing.assert_array_equal(recon[inside], x[inside])  # in-range values are left alone


def test_positions_are_channel_major_and_coarser_values_cost_less():
    x = massive(tokens=200, channels=48)
    found = O.find(x, -5, 5, 1, 3, 10)
    index = O._moved_index(found.positions, x.shape, 3)
    assert np.all(np.diff(index[3]) >= 0)  # channel axis outermost
    sizes = [len(O.encode(O.find(x, -5, 5, 1, 3, b), x.shape)) for b in (12, 10, 6)]
    assert sizes[0] > sizes[1] > sizes[2]
    coarse = O.decode(O.encode(O.find(x, -5, 5, 1, 3, 6), x.shape), x.shape)
    recon = np.clip(x, -5, 5).astype(np.float32)
    O.apply(recon, coarse, -5, 5, 1)
    assert np.abs(recon - x).max() <= 10 / 63 / 2 + 1e-4


def test_nothing_outside_gives_a_seven_byte_section():
    x = np.zeros((1, 1, 4, 8), np.float32)
    data = O.encode(O.find(x, -1, 1, 1, 3, 10), x.shape)
    assert len(data) == 7
    assert len(O.decode(data, x.shape)) == 0


def test_excess_below_half_a_step_is_left_to_the_frame():
    step = 2 / 1023
    x = np.array([1 + 0.4 * step, 1 + 0.6 * step, -1 - 3 * step], np.float32).reshape(1, 1, 1, 3)
    found = O.find(x, -1, 1, 1, 3, 10)
    assert found.positions.tolist() == [1, 2] and found.steps.tolist() == [1, -3]


@pytest.mark.parametrize("method", [O._RAW, O._ZSTD, O._LZMA])
def test_every_stream_method_decodes(method, monkeypatch):
    x = massive()
    found = O.find(x, -2, 2, 1, 3, 10)
    real_pack = O._pack_stream

    def forced(raw: bytes) -> bytes:
        packed = real_pack(raw)
        if method == O._RAW:
            body = raw
        elif method == O._ZSTD:
            import zstandard
            body = zstandard.ZstdCompressor(level=3).compress(raw)
        else:
            import lzma
            body = lzma.compress(raw, format=lzma.FORMAT_RAW, filters=O._LZMA_FILTERS)
        assert len(packed) <= len(body) + 5  # the encoder keeps the smallest
        return struct.pack("<BI", method, len(body)) + body

    monkeypatch.setattr(O, "_pack_stream", forced)
    back = O.decode(O.encode(found, x.shape), x.shape)
    np.testing.assert_array_equal(back.steps, found.steps)


def _section(x: np.ndarray) -> bytes:
    return O.encode(O.find(x, -2, 2, 1, 3, 10), x.shape)


def _streams(data: bytes) -> tuple[bytes, int, bytes, int, bytes]:
    """(head, position method, position body, value method, value body) of a section."""
    m1, n1 = struct.unpack_from("<BI", data, 7)
    body1 = data[12:12 + n1]
    m2, n2 = struct.unpack_from("<BI", data, 12 + n1)
    return data[:7], m1, body1, m2, data[17 + n1:17 + n1 + n2]


def _rebuild(head: bytes, m1: int, b1: bytes, m2: int, b2: bytes) -> bytes:
    return head + struct.pack("<BI", m1, len(b1)) + b1 + struct.pack("<BI", m2, len(b2)) + b2


def _raw_section(x: np.ndarray) -> tuple[bytes, bytes, bytes]:
    found = O.find(x, -2, 2, 1, 3, 10)
    gaps = O._varint_encode(np.diff(found.positions, prepend=-1) - 1)
    vals = O._varint_encode(O._zigzag(found.steps))  # channel deltas of a one-outlier channel = values
    return struct.pack("<BBBI", 1, 3, 10, len(found)), gaps, vals


def corruptions():
    x = massive()
    big = x.shape
    data = _section(x)
    head, m1, b1, m2, b2 = _streams(data)
    count = struct.unpack_from("<I", head, 3)[0]
    small = (1, 1, 4, 8)
    one = np.zeros(small, np.float32)
    one[0, 0, 0, 3] = 5.0  # a single outlier
    h, gaps, vals = _raw_section(one)
    junk_values = (_rebuild(head, m1, b1, m2, b"\x01" * len(b2)) if m2 != O._RAW
                   else _rebuild(head, m1, b1, O._ZSTD, b"junk"))
    return [
        (data[:5], big, "too short"),
        (b"\x02" + data[1:], big, "format 2"),
        (data[:1] + b"\x07" + data[2:], big, "axis 7"),
        (data[:2] + b"\x00" + data[3:], big, "0 bits"),
        (head[:3] + struct.pack("<I", 10**9) + data[7:], big, "outliers for a tensor"),
        (data[:-3], big, "value stream needs"),
        (data + b"\x00", big, "trailing"),
        (_rebuild(head, 9, b1, m2, b2), big, "unknown position coding method 9"),
        (junk_values, big, "value stream"),
        (_rebuild(head[:3] + struct.pack("<I", count + 1), m1, b1, m2, b2), big, "holds"),
        (_rebuild(h, 0, O._varint_encode(np.array([40])), 0, vals), small, "outside"),
        (_rebuild(h, 0, gaps, 0, O._varint_encode(np.array([0]))), small, "zero excess"),
        (_rebuild(h, 0, b"\xff" * 11 + b"\x01", 0, vals), small, "varint is 12 bytes"),
    ]


@pytest.mark.parametrize("data,shape,message", corruptions())
def test_corrupt_sections_are_refused_by_name(data, shape, message):
    with pytest.raises(O.OutlierError, match="outlier side channel") as info:
        O.decode(data, shape)
    assert message in str(info.value)
    assert isinstance(info.value, ContainerError)


def test_fill_puts_the_channel_median_at_outlier_positions():
    x = np.array([[0.5, 9.0, 0.1], [0.7, 0.2, 0.3], [0.6, 0.4, -9.0], [0.9, 0.6, 0.5]], np.float32)[None, None]
    found = O.find(x, -1, 1, 1, 3, 10)
    clipped = np.clip(x, -1, 1)
    assert O.fill(clipped, found, "clip") is clipped
    filled = O.fill(clipped, found, "median")
    assert filled[0, 0, 0, 1] == pytest.approx(np.median([0.2, 0.4, 0.6]))
    assert filled[0, 0, 2, 2] == pytest.approx(np.median([0.1, 0.3, 0.5]))
    mask = np.ones_like(x, dtype=bool)
    mask[0, 0, 0, 1] = mask[0, 0, 2, 2] = False
    np.testing.assert_array_equal(filled[mask], clipped[mask])
    with pytest.raises(ValueError, match="unknown outlier fill 'zero'"):
        O.fill(clipped, found, "zero")


@pytest.mark.parametrize("bits", [0, 25, 2.5, True])
def test_bad_precision_is_named(bits):
    with pytest.raises(ValueError, match="outlier precision"):
        O.find(np.zeros((1, 1, 2, 2), np.float32), -1, 1, 1, 3, bits)


def test_a_channel_of_outliers_only_is_filled_with_zero_quietly():
    import warnings

    x = np.full((1, 1, 4, 3), 9.0, np.float32)
    x[..., 0] = 0.5
    found = O.find(x, -1, 1, 1, 3, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        filled = O.fill(np.clip(x, -1, 1), found, "median")
    np.testing.assert_array_equal(filled[..., 1:], 0.0)
    np.testing.assert_array_equal(filled[..., 0], 0.5)
