"""Packing layouts are bijective and match the reference reshapes exactly."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcbench.codecs import LAYOUTS, frame_size, pack, unpack
from fcbench.codecs.chain.packing import grid


def shape_for(layout, a, b, c, d):
    return {"llama3": (1, 1, c, d), "dinov2": (a, b, c, d), "sd3": (1, 16, c, d), "generic": (a, b, c, d)}[layout]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(LAYOUTS), st.integers(1, 3), st.integers(1, 7), st.integers(1, 9), st.integers(1, 9))
def test_pack_unpack_is_a_bijection(layout, a, b, c, d):
    shape = shape_for(layout, a, b, c, d)
    x = np.arange(int(np.prod(shape)), dtype=np.uint16).reshape(shape)
    frame = pack(x, layout)
    assert frame.ndim == 2 and frame.shape == frame_size(shape, layout)
    assert sorted(frame.ravel().tolist()) == list(range(x.size))  # every sample once
    np.testing.assert_array_equal(unpack(frame, shape, layout), x)


def test_reference_formulas():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 1024, size=(2, 4, 5, 6))
    np.testing.assert_array_equal(pack(x, "dinov2"), x.transpose(0, 2, 1, 3).reshape(2 * 5, 4 * 6))
    s = rng.integers(0, 1024, size=(1, 16, 3, 5))
    np.testing.assert_array_equal(pack(s, "sd3"), s.reshape(4, 4, 3, 5).transpose(0, 2, 1, 3).reshape(12, 20))
    # channel 4i+j -> tile (i, j)
    assert np.array_equal(pack(s, "sd3")[3:6, 10:15], s[0, 4 * 1 + 2])
    tokens = rng.integers(0, 1024, size=(1, 1, 7, 9))
    np.testing.assert_array_equal(pack(tokens, "llama3"), tokens[0, 0])


def test_reference_frame_sizes():
    assert frame_size((1, 1, 257, 1536), "dinov2") == (257, 1536)
    assert frame_size((3, 1, 1370, 1536), "dinov2") == (4110, 1536)
    assert frame_size((2, 4, 1611, 1536), "dinov2") == (3222, 6144)
    assert frame_size((1, 16, 128, 128), "sd3") == (512, 512)
    assert frame_size((1, 1, 186, 4096), "llama3") == (186, 4096)


@pytest.mark.parametrize("c", [1, 2, 3, 4, 6, 7, 12, 16, 30])
def test_generic_grid_is_near_square(c):
    rows, cols = grid(c)
    assert rows * cols == c and rows <= cols
    assert all(c % r or r <= rows for r in range(1, int(c**0.5) + 1))


@pytest.mark.parametrize(
    "shape, layout, message",
    [
        ((2, 1, 4, 4), "llama3", "needs shape"),
        ((1, 8, 4, 4), "sd3", "needs shape"),
        ((4, 4), "generic", r"\(N, C, H, W\)"),
        ((1, 1, 4, 4), "zigzag", "unknown packing layout"),
    ],
)
def test_bad_shapes_are_named(shape, layout, message):
    with pytest.raises(ValueError, match=message):
        pack(np.zeros(shape), layout)


def test_unpack_checks_frame_size():
    with pytest.raises(ValueError, match="does not unpack"):
        unpack(np.zeros((10, 10)), (1, 1, 5, 20), "llama3")
