"""The hyperprior through the one codec protocol: containers, padding, determinism, errors."""
from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
import torch

from fcbench.codecs import Conditions, ContainerError, get_codec, unpack_container
from fcbench.codecs.chain.container import header_size
from fcbench.codecs.hyperprior.checkpoint import CheckpointError
from fcbench.codecs.hyperprior.codec import centre_padding
from fcbench.codecs.measured_rate import container_rate


@pytest.fixture(scope="module")
def codec(untrained_checkpoint):
    return get_codec("hyperprior", checkpoint=untrained_checkpoint)


def _feature(shape, seed=0):
    return np.random.default_rng(seed).laplace(0, 1.5, shape).astype(np.float32)


@pytest.mark.parametrize(
    "shape,layout",
    [((1, 1, 257, 1536), "dinov2"), ((1, 1, 186, 4096), "llama3"), ((1, 16, 9, 7), "sd3"), ((2, 3, 5, 11), "generic")],
)
def test_round_trip_odd_frame_sizes(codec, shape, layout):
    x = _feature(shape)
    data = codec.encode(x, 0.01, low=-5, high=5, layout=layout)
    y = codec.decode(data)
    assert y.shape == x.shape and y.dtype == x.dtype
    header, payload = unpack_container(data)
    p = codec.parse_payload(payload)
    rows, cols = header.frame
    assert (p["rows"], p["cols"]) == (rows, cols)
    assert p["padded"][0] % 64 == 0 and p["padded"][1] % 64 == 0
    assert p["padded"][0] - rows < 64 and p["padded"][1] - cols < 64
    # Decoded values lie in the normalisation range (output clamped to [0,1] before de-normalising).
    assert y.min() >= -5 - 1e-5 and y.max() <= 5 + 1e-5
    # Every byte is accounted: container header + payload fields + y and z strings. The paper's
    # bpfp counts only the strings; the rest is the container column.
    assert len(data) == header_size(data) + len(payload)
    assert len(payload) == struct.calcsize("<B4sIIIIHHII") + len(p["y"]) + len(p["z"])
    assert len(p["y"]) > 0 and len(p["z"]) > 0
    rate = container_rate(data)
    assert rate.bitstream_bytes == len(p["y"]) + len(p["z"]) and rate.side_bytes == 0
    assert rate.bpfp == 8 * (len(p["y"]) + len(p["z"])) / x.size
    assert rate.container_bytes == header_size(data) + struct.calcsize("<B4sIIIIHHII")


def test_centre_padding():
    assert centre_padding(257, 1536, 64) == (31, 32, 0, 0)
    assert centre_padding(186, 4096, 64) == (3, 3, 0, 0)
    assert centre_padding(64, 65, 64) == (0, 0, 31, 32)


def test_reconstruction_is_the_model_output_unpadded(codec):
    """decode == g_s(decoded latents), clamped, cropped at the centre-padding offsets."""
    x = _feature((1, 1, 70, 130), seed=3)
    data = codec.encode(x, 0.01, low=-5, high=5, layout="llama3")
    header, payload = unpack_container(data)
    frame, out = codec._decode(payload, header)
    top, _, left, _ = centre_padding(70, 130, 64)
    full = out["x_hat"][0, 0].numpy()
    assert full.shape == (128, 192)
    np.testing.assert_array_equal(frame, full[top : top + 70, left : left + 130])
    assert frame.min() >= 0.0 and frame.max() <= 1.0


def test_decode_is_deterministic_and_latents_match(codec):
    x = _feature((1, 1, 100, 200), seed=5)
    data = codec.encode(x, 0.01, low=-5, high=5, layout="llama3")
    a, b = codec.decode(data), codec.decode(data)
    assert a.tobytes() == b.tobytes()
    assert codec.encode(x, 0.01, low=-5, high=5, layout="llama3") == data  # encoding too
    # The entropy decoder's y_hat equals the encoder's round(g_a(x)): no desync.
    net = codec._models[0].net
    header, payload = unpack_container(data)
    p = codec.parse_payload(payload)
    _, frame = codec.to_frame(x, 0.01, Conditions(low=-5, high=5, layout="llama3"))
    top, bottom, left, right = centre_padding(*frame.shape, 64)
    xt = torch.nn.functional.pad(torch.from_numpy(frame)[None, None], (left, right, top, bottom))
    with torch.no_grad():
        y_enc = torch.round(net.g_a(xt))
        z_hat = net.entropy_bottleneck.decompress([p["z"]], torch.Size(p["z_shape"]))
        idx = net.gaussian_conditional.build_indexes(net.h_s(z_hat))
        y_dec = net.gaussian_conditional.decompress([p["y"]], idx, z_hat.dtype)
    assert torch.equal(y_enc, y_dec)


@pytest.mark.slow  # a fresh interpreter
def test_fresh_process_decodes_identically(codec, untrained_checkpoint, tmp_path, run_python):
    x = _feature((1, 1, 90, 150), seed=7)
    data = codec.encode(x, 0.01, low=-5, high=5, layout="llama3")
    (tmp_path / "s.bin").write_bytes(data)
    run_python(
        "import numpy as np; from fcbench.codecs import get_codec;"
        f"c = get_codec('hyperprior', checkpoint={str(untrained_checkpoint)!r});"
        f"np.save({str(tmp_path / 'y.npy')!r}, c.decode(open({str(tmp_path / 's.bin')!r}, 'rb').read()))"
    )
    assert np.load(tmp_path / "y.npy").tobytes() == codec.decode(data).tobytes()


def test_identity(codec, untrained_checkpoint):
    ident = codec.identity
    assert ident["name"] == "hyperprior"
    assert ident["version"].startswith("compressai-1.2.8/bmshj2018-hyperprior")
    assert ident["binary_sha256"] == hashlib.sha256(untrained_checkpoint.read_bytes()).hexdigest()
    from fcbench.codecs.hyperprior import ModelConfig

    assert ident["cfg_sha256"] == ModelConfig(N=8, M=8).sha256()
    assert ident["options"]["lambdas"] == [0.01]


def test_rate_point_must_match_the_model(codec):
    with pytest.raises(ValueError, match="no hyperprior model for lambda 0.02"):
        codec.encode(_feature((1, 1, 8, 8)), 0.02, low=-5, high=5, layout="llama3")
    with pytest.raises(ValueError, match="lambda"):
        codec.encode(_feature((1, 1, 8, 8)), "0.01", low=-5, high=5, layout="llama3")


def test_bad_inputs_are_named(codec):
    x = _feature((1, 1, 8, 8))
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        codec.encode(x, 0.01, low=-5, high=5, layout="llama3")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        codec.encode(np.zeros((8, 8), np.float32), 0.01, low=-5, high=5)
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        codec.encode_frame(np.full((8, 8), 1.5, np.float32), 0.01, 0)


def test_corrupt_and_foreign_streams(codec, tmp_path):
    data = codec.encode(_feature((1, 1, 40, 60)), 0.01, low=-5, high=5, layout="llama3")
    broken = bytearray(data)
    broken[len(broken) // 2] ^= 0xFF
    with pytest.raises(ContainerError, match="CRC"):
        codec.decode(bytes(broken))
    with pytest.raises(ContainerError, match="truncated"):
        codec.decode(data[:-10])
    header, payload = unpack_container(data)
    with pytest.raises(ContainerError, match="payload"):
        codec.decode_frame(payload[:-3], header)


def test_decoding_with_another_model_is_refused(codec, tmp_path, untrained_checkpoint):
    import torch as _t

    from fcbench.codecs.hyperprior import ModelConfig, build_model, save_checkpoint

    _t.manual_seed(1)
    other = tmp_path / "other.pt"
    save_checkpoint(other, {"config": ModelConfig(N=8, M=8).as_dict(), "lmbda": 0.01, "model": build_model(ModelConfig(N=8, M=8)).state_dict()})
    data = codec.encode(_feature((1, 1, 40, 60)), 0.01, low=-5, high=5, layout="llama3")
    with pytest.raises(ContainerError, match="fingerprint"):
        get_codec("hyperprior", checkpoint=other).decode(data)


def test_checkpoint_options_and_errors(untrained_checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match="fetch such URIs first"):
        get_codec("hyperprior", checkpoint="s3://bucket/model.pt")
    with pytest.raises(CheckpointError, match="fetch such URIs first"):
        get_codec("hyperprior", checkpoint="models:/hyperprior-cls/3")
    with pytest.raises(CheckpointError, match="does not exist"):
        get_codec("hyperprior", checkpoint=tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        get_codec("hyperprior", checkpoint=tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="exactly one"):
        get_codec("hyperprior")
    with pytest.raises(ValueError, match="trained at lambda 0.01"):
        get_codec("hyperprior", checkpoints={0.5: untrained_checkpoint})
    with pytest.raises(TypeError, match="no option"):
        get_codec("hyperprior", checkpoint=untrained_checkpoint, qp=3)
