"""Codec plug-ins (entry-point group `fcbench.codecs`): the example package installed for real,
listed with its origin, conformant, swept by the CLI in another process; broken plug-ins are
named in clear errors and break nothing else."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fcbench.codecs import FeatureSet, get_codec
from fcbench.codecs.conformance import ConformanceError, check_codec
from fcbench.codecs.plugins import CodecPluginError
from fcbench.codecs.registry import codec_names, codec_origin, plugin_errors
from fcbench.pipelines.cli import main
from tests.codecs.core.plugin_packages import installed_plugins, plugin_dir  # noqa: F401 (fixtures)


def test_an_installed_plugin_is_a_codec_like_the_others(installed_plugins):
    assert "zlib" in codec_names() and "x265" in codec_names()
    assert codec_origin("zlib") == "plug-in fcbench-codec-zlib 0.1.0 (fcbench_zlib.codec:ZlibCodec)"
    assert codec_origin("x265") == "fcbench (built-in)"
    codec = get_codec("zlib", level=6)
    x = np.random.default_rng(0).normal(0, 1, (1, 2, 16, 24)).astype(np.float32)
    sizes = [len(codec.encode(x, shift, low=-3.0, high=3.0)) for shift in (0, 2, 4)]
    assert sizes[0] > sizes[1] > sizes[2]
    lossless = codec.decode(codec.encode(x, 0, low=-3.0, high=3.0))
    assert np.abs(lossless - np.clip(x, -3, 3)).max() <= 6 / 1023 / 2 + 1e-6  # shift 0: only quantization


def test_the_example_plugin_passes_conformance(installed_plugins):
    report = check_codec("zlib", rate_points=[0, 2, 4], options={"level": 9})
    assert len(report.passed) == 5 and not report.failed


def test_conformance_catches_a_codec_that_is_not_one(installed_plugins):
    """A codec whose decoder ignores corruption and whose identity drifts fails, named."""
    from fcbench.codecs.registry import register

    zlib_cls = type(get_codec("zlib"))

    class Sloppy(zlib_cls):
        calls = 0

        @property
        def identity(self):
            Sloppy.calls += 1
            return {**super().identity, "version": str(Sloppy.calls)}

        def decode_frame(self, payload, header):
            return np.zeros(header.frame, dtype=np.uint16)

    register("sloppy")(Sloppy)
    with pytest.raises(ConformanceError, match=r"fails 3 conformance(.|\n)*RMSE(.|\n)*identity differs(.|\n)*returned an array"):
        check_codec("sloppy", rate_points=[0])


def test_broken_plugins_are_named_and_break_nothing(installed_plugins):
    errors = plugin_errors()
    assert set(errors) == {"broken", "notacodec", "x265"}
    with pytest.raises(CodecPluginError, match=r"codec plug-in 'broken' \(broken_codec_mod:Codec, from broken-codecs "
                                               r"0.0.1\) failed to import: RuntimeError: this plug-in is broken"):
        get_codec("broken")
    with pytest.raises(CodecPluginError, match="'notacodec' .* is not a codec"):
        get_codec("notacodec")
    assert "takes the name of a built-in codec" in errors["x265"]
    assert get_codec("x265").identity["name"] == "x265"  # the built-in, untouched
    assert {"zlib", "x265", "av1"} <= set(codec_names()) and "broken" not in codec_names()
    with pytest.raises(KeyError, match="unknown codec 'nope'; available: .*zlib"):
        get_codec("nope")


def test_codec_list_shows_origins_and_broken_plugins(installed_plugins, capsys):
    assert main(["codec", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["zlib"]["ready"] and listing["zlib"]["origin"].startswith("plug-in fcbench-codec-zlib")
    assert listing["zlib"]["rate_unit"] == "shift" and listing["x265"]["origin"] == "fcbench (built-in)"
    assert not listing["broken"]["ready"] and "failed to import" in listing["broken"]["why"]
    assert listing["x265"]["ready"] and "built-in" in listing["plug-in:x265"]["why"]  # a clash is listed apart
    assert main(["codec", "list"]) == 0
    assert "[plug-in fcbench-codec-zlib 0.1.0 (fcbench_zlib.codec:ZlibCodec)]" in capsys.readouterr().out


def test_a_sweep_in_another_process_finds_the_plugin(installed_plugins, tmp_path):
    """`fcbench encode --codec zlib` in a fresh process (parallel workers): QPs map to shifts."""
    fs = FeatureSet.create(tmp_path / "f", model="llama3", task="csr", split_point="layer 32")
    for i in range(3):
        fs.write(f"s{i}", np.random.default_rng(i).normal(0, 2, (1, 1, 16, 64)).astype(np.float32))
    out = subprocess.run([sys.executable, "-m", "fcbench.pipelines.cli", "encode", "--features", str(fs.root),
                          "--codec", "zlib", "--qp", "22", "32", "--out", str(tmp_path / "o"), "-j", "2",
                          "--no-progress", "--json"], capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)["summary"]
    assert [(s["rate_point"], s["rate_unit"]) for s in summary] == [(0, "shift"), (2, "shift")]
    assert "QPs [22, 32] -> shift [0, 2]" in out.stderr
    assert sorted(p.name for p in (tmp_path / "o" / "bitstreams" / "zlib").iterdir()) == ["shift0", "shift2"]


def test_the_documented_example_is_the_example_package():
    """docs/codecs.md shows the example plug-in's code: it must be the code that is tested here."""
    from tests.codecs.core.plugin_packages import EXAMPLE
    from tests.paths import REPO

    doc = (REPO / "docs" / "codecs.md").read_text()
    start = doc.index("```python\nimport zlib\n") + len("```python\n")
    shown = [line for line in doc[start:doc.index("```", start)].splitlines() if line.strip()]
    code = [line for line in (EXAMPLE / "fcbench_zlib" / "codec.py").read_text().splitlines()[1:] if line.strip()]
    assert shown == code
