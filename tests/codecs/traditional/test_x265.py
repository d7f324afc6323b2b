"""Real x265 (PyAV libx265) round trips: rate monotonic in QP, bounded error, sizes, errors."""
from __future__ import annotations

import numpy as np
import pytest

from fcbench.codecs import ContainerError, get_codec, pack_container, unpack_container
from fcbench.codecs.backends._av import AVError
from fcbench.codecs.protocol import Conditions
from tests.codecs.traditional.helpers import smooth_feature

COND = dict(low=-20.0, high=20.0, layout="dinov2", bit_depth=10)
QPS = (12, 22, 27, 32, 37, 42)


@pytest.fixture(scope="module")
def coded():
    """The same feature coded at every QP: {qp: (container, quantized frame, decoded frame)}."""
    codec = get_codec("x265", preset="medium")
    feature = smooth_feature((1, 2, 40, 192), seed=3)
    out = {}
    for qp in QPS:
        data = codec.encode(feature, qp, **COND)
        _, frame = codec.to_frame(feature, qp, Conditions(**COND))
        out[qp] = (data, frame, codec.decode_to_frame(data)[1], codec.decode(data), feature)
    return out


def psnr(a: np.ndarray, b: np.ndarray, peak: int = 1023) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


def test_rate_falls_and_error_grows_with_qp(coded):
    sizes = [len(coded[qp][0]) for qp in QPS]
    quality = [psnr(coded[qp][1], coded[qp][2]) for qp in QPS]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    assert quality == sorted(quality, reverse=True)


def test_reconstruction_error_within_bounds(coded):
    # 10-bit samples: QP 12 is near-transparent, QP 22 high quality, QP 42 coarse but sane.
    assert psnr(coded[12][1], coded[12][2]) > 50
    assert psnr(coded[22][1], coded[22][2]) > 42
    assert psnr(coded[42][1], coded[42][2]) > 25
    data, frame, decoded, recon, feature = coded[22]
    step = 40.0 / 1023
    clipped = np.clip(feature, -20, 20)
    assert recon.shape == feature.shape and recon.dtype == np.float32
    # the feature-domain error is the coding error of the samples scaled by the step (plus
    # the rounding error of the quantizer), so it stays tied to the PSNR measured on samples
    mse_q = float(np.mean((frame.astype(np.float64) - decoded) ** 2))
    mse = float(np.mean((recon.astype(np.float64) - clipped) ** 2))
    assert mse == pytest.approx(mse_q * step**2 + step**2 / 12, rel=0.15)
    assert mse < (10 * step) ** 2


def test_container_carries_a_raw_hevc_stream(coded):
    header, payload = unpack_container(coded[32][0])
    assert header.codec == "x265" and header.rate_point == 32 and header.frame == (40, 384)
    assert payload[:4] == b"\x00\x00\x00\x01"  # Annex-B start code
    assert b"x265" not in payload  # info=0: no version SEI in the stream


def test_deterministic():
    codec = get_codec("x265", preset="fast")
    feature = smooth_feature((1, 1, 32, 96), seed=5)
    assert codec.encode(feature, 27, **COND) == get_codec("x265", preset="fast", threads=2).encode(feature, 27, **COND)


@pytest.mark.parametrize("shape", [(1, 1, 3, 5), (1, 1, 1, 4096), (1, 1, 257, 33), (1, 1, 9, 17)])
def test_small_and_odd_frames_are_padded_and_cropped(shape):
    codec = get_codec("x265", preset="fast")
    feature = smooth_feature(shape, seed=1)
    data = codec.encode(feature, 22, **dict(COND, layout="llama3"))
    header, decoded = codec.decode_to_frame(data)
    assert decoded.shape == header.frame == (shape[2], shape[3])
    assert psnr(codec.to_frame(feature, 22, Conditions(**dict(COND, layout="llama3")))[1], decoded) > 35


def test_identity():
    ident = get_codec("x265", preset="slow").identity
    assert ident["name"] == "x265" and ident["version"].startswith("x265 ")
    # threads does not change the stream (test_deterministic), so it is not part of the identity
    assert ident["options"] == {"preset": "slow", "extra_params": ""}
    assert ident["binary_sha256"] is None or len(ident["binary_sha256"]) == 64
    assert ident["cfg_sha256"] is None


def test_bad_inputs_give_clear_errors():
    codec = get_codec("x265")
    feature = smooth_feature((1, 1, 16, 64))
    for qp in (52, -1, 22.0, True):
        with pytest.raises(ValueError, match="QP|integer"):
            codec.encode(feature, qp, **COND)
    nan = feature.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        codec.encode(nan, 22, **COND)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        codec.encode(feature[0], 22, **COND)
    with pytest.raises(ValueError, match="preset"):
        get_codec("x265", preset="warp")
    with pytest.raises(ValueError, match="extra_params"):
        get_codec("x265", extra_params="--qp 3")
    with pytest.raises(TypeError, match="no option"):
        get_codec("x265", qp=3)


def test_corrupt_payload_is_an_error(coded):
    header, payload = unpack_container(coded[22][0])
    with pytest.raises(AVError):
        get_codec("x265").decode(pack_container(header, payload[: len(payload) // 3]))
    data = bytearray(coded[22][0])
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ContainerError, match="CRC"):
        get_codec("x265").decode(bytes(data))
