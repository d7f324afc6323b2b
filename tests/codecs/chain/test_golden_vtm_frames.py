"""Golden: truncate/quantize/pack reproduce the packed frames fed to VTM, byte for byte."""
import json

import numpy as np
import pytest

from fcbench.codecs import pack, quantize, truncate
from fcbench.codecs.chain.yuv import frame_to_bytes, read_yuv400
from fcbench.pipelines.cli import main

NAMES = ("llama3_like", "dinov2_like", "sd3_like")


@pytest.mark.parametrize("name", NAMES)
def test_packed_frame_matches_fixture_bytes(vtm_fixtures, name):
    spec = json.loads((vtm_fixtures / "fixtures.json").read_text())[name]
    x = np.load(vtm_fixtures / f"{name}.feature.npy")
    assert list(x.shape) == spec["feature_shape"]
    low, high = spec["trunc"]
    frame = pack(quantize(truncate(x, low, high), low, high, spec["bit_depth"]), spec["packing"])
    assert frame.shape == (spec["frame_rows"], spec["frame_cols"])
    assert frame_to_bytes(frame, spec["bit_depth"]) == (vtm_fixtures / f"{name}.yuv").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_cli_pack_reproduces_fixture(vtm_fixtures, tmp_path, name, capsys):
    spec = json.loads((vtm_fixtures / "fixtures.json").read_text())[name]
    low, high = spec["trunc"]
    out = tmp_path / "frame.yuv"
    args = ["pack", str(vtm_fixtures / f"{name}.feature.npy"), "-o", str(out), "--layout", spec["packing"],
            "--low", str(low), "--high", str(high)]
    assert main(args) == 0
    assert out.read_bytes() == (vtm_fixtures / f"{name}.yuv").read_bytes()
    rec = tmp_path / "rec.npy"
    shape = [str(s) for s in spec["feature_shape"]]
    assert main(["unpack", str(out), "-o", str(rec), "--shape", *shape, "--layout", spec["packing"],
                 "--low", str(low), "--high", str(high)]) == 0
    x = np.clip(np.load(vtm_fixtures / f"{name}.feature.npy"), low, high)
    assert np.abs(np.load(rec) - x).max() <= (high - low) / 1023 / 2 + 1e-5


def test_yuv_reader_checks_size(vtm_fixtures):
    with pytest.raises(ValueError, match="expected"):
        read_yuv400(vtm_fixtures / "sd3_like.yuv", 128, 127, 10)
