"""Real AV1 (PyAV's SVT-AV1 encoder, dav1d decoder) round trips, sizes, identity, errors, sweeps."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from fcbench.codecs import ContainerError, get_codec, pack_container, unpack_container
from fcbench.codecs.backends import _av
from fcbench.codecs.backends.av1 import padded_size
from fcbench.codecs.features.featureset import FeatureSet
from fcbench.codecs.protocol import Conditions
from fcbench.codecs.sweeps.run import run_sweep

COND = dict(low=-5.0, high=5.0, layout="llama3", bit_depth=10)


def feature(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """Token-like features: smooth along tokens, distinct channels, a little noise."""
    rng = np.random.default_rng(seed)
    base = np.cumsum(rng.normal(0, 0.3, (rows, cols)), axis=0) + rng.normal(0, 1.5, (1, cols))
    return base.reshape(1, 1, rows, cols).astype(np.float32)


def psnr_q(codec, x, crf, cond=COND) -> float:
    data = codec.encode(x, crf, **cond)
    _, decoded = codec.decode_to_frame(data)
    _, frame = codec.to_frame(x, crf, Conditions(**cond))
    mse = float(np.mean((decoded.astype(float) - frame) ** 2))
    return 10 * np.log10(1023**2 / max(mse, 1e-12))


def test_rate_falls_and_error_grows_with_crf():
    codec = get_codec("av1", preset=8)
    x = feature(96, 384)
    sizes = [len(codec.encode(x, crf, **COND)) for crf in (10, 30, 50)]
    assert sizes[0] > sizes[1] > sizes[2]
    assert psnr_q(codec, x, 10) > psnr_q(codec, x, 30) > psnr_q(codec, x, 50) > 20


@pytest.mark.parametrize("shape", [(24, 512), (512, 24), (5, 7), (1, 64), (65, 130)])
def test_frames_svt_av1_cannot_take_are_padded_and_cropped(shape):
    """24x512 is the llama3 fixture frame: unpadded, SVT-AV1 4.1 hangs on it (measured)."""
    codec = get_codec("av1", preset=8)
    x = feature(*shape)
    data = codec.encode(x, 20, **COND)
    header, payload = unpack_container(data)
    assert header.frame == shape and header.rate_point == 20
    stream = _av.decode_single_frame(payload, "obu", decoder="libdav1d", kind="yuv420")
    assert stream.shape == padded_size(*shape) and min(stream.shape) >= 64 and stream.shape[0] % 8 == 0
    recon = codec.decode(data)
    assert recon.shape == x.shape and recon.dtype == np.float32
    assert float(np.sqrt(np.mean((recon - np.clip(x, -5, 5)) ** 2))) < 0.3  # a wrong crop is ~2


def test_too_large_frames_are_refused_before_encoding():
    with pytest.raises(ValueError, match="over SVT-AV1's 8704x16384 limit"):
        padded_size(8705, 64)


def test_eight_bit_frames():
    codec = get_codec("av1", preset=8)
    x = feature(64, 64)
    cond = dict(COND, bit_depth=8)
    assert psnr_q(codec, x, 20, cond) > 30
    with pytest.raises(ValueError, match="8 or 10-bit"):
        codec.encode(x, 20, **dict(COND, bit_depth=12))


def test_identity_names_both_libraries_and_hashes_the_encoder():
    ident = get_codec("av1", preset=6).identity
    assert ident["name"] == "av1" and ident["options"] == {"preset": 6, "extra_params": ""}
    assert ident["version"].startswith("SVT-AV1 ") and " / dav1d " in ident["version"]
    assert "unknown" not in ident["version"]
    library = _av.bundled_library("libSvtAv1Enc")
    assert ident["binary_sha256"] == hashlib.sha256(library.read_bytes()).hexdigest()
    assert get_codec("av1", preset=6, threads=3).identity == ident  # threads do not change the stream
    assert get_codec("av1", preset=5).identity != ident


def test_threads_do_not_change_the_stream():
    x = feature(128, 256)
    assert get_codec("av1", preset=8, threads=1).encode(x, 30, **COND) == \
        get_codec("av1", preset=8, threads=2).encode(x, 30, **COND)


def test_bad_options_and_rate_points():
    codec = get_codec("av1")
    for bad in (0, 64, 22.5, True, "22"):
        with pytest.raises(ValueError, match="CRF"):
            codec.check_rate_point(bad)
    for preset in (-1, 14, "4", 4.0):
        with pytest.raises(ValueError, match="preset"):
            get_codec("av1", preset=preset)
    with pytest.raises(ValueError, match="threads"):
        get_codec("av1", threads=0)


def test_corrupt_data_is_an_error_not_garbage():
    codec = get_codec("av1", preset=8)
    data = codec.encode(feature(64, 128), 25, **COND)
    header, payload = unpack_container(data)
    with pytest.raises(_av.AVError):
        codec.decode(pack_container(header, payload[: len(payload) // 2]))
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    with pytest.raises(ContainerError):
        codec.decode(bytes(flipped))


def test_sweep_names_crf_folders_and_units(tmp_path):
    fs = FeatureSet.create(tmp_path / "f", model="llama3", task="csr", split_point="layer 32")
    for i in range(2):
        fs.write(f"s{i}", feature(32, 128, seed=i))
    res = run_sweep(fs.root, "av1", {"preset": 8}, [20, 40], COND, tmp_path / "o", jobs=1, progress=False)
    assert [(s["rate_point"], s["rate_unit"]) for s in res.summary] == [(20, "crf"), (40, "crf")]
    assert (tmp_path / "o" / "bitstreams" / "av1" / "crf20" / "s0.bin").is_file()
    assert FeatureSet.open(tmp_path / "o" / "recon" / "av1" / "crf40").meta["rate_unit"] == "crf"
    assert json.loads((tmp_path / "o" / "results.json").read_text())["rate_unit"] == "crf"
    assert "crf" in res.table().splitlines()[1]


def test_svt_av1_keeps_quiet(tmp_path):
    """SVT-AV1 prints its configuration to stderr at every encode unless SVT_LOG says errors only."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np; from fcbench.codecs import get_codec; "
            "get_codec('av1', preset=8).encode(np.zeros((1, 1, 64, 64), np.float32), 30, low=-1.0, high=1.0)")
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "Svt[" not in out.stderr + out.stdout
