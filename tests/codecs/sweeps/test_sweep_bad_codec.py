"""A codec that decodes NaN fails its own jobs only: the sweep finishes the others, records the
failed ones and writes its results table (#24 item 9)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fcbench.codecs import FeatureSet, registry
from fcbench.codecs.backends.bypass import BypassCodec
from fcbench.codecs.sweeps.run import SweepError, run_sweep


class _NaNOnPositiveSamples(BypassCodec):
    """bypass, but the reconstruction of a sample whose first value is positive is all NaN."""

    def from_frame(self, header, frame):
        recon = super().from_frame(header, frame)
        return np.full_like(recon, np.nan) if recon.reshape(-1)[0] > 0 else recon


def test_a_codec_that_decodes_nan_fails_only_its_jobs(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register("nan-bypass")(_NaNOnPositiveSamples)
    with FeatureSet.create(tmp_path / "set", "llama3", "csr", "synthetic") as fs:
        fs.write("ok", -np.abs(np.random.default_rng(0).standard_normal((1, 1, 16, 64))).astype(np.float32))
        fs.write("bad", np.abs(np.random.default_rng(1).standard_normal((1, 1, 16, 64))).astype(np.float32) + 0.1)
    with pytest.raises(SweepError, match=r"1 of 2 nan-bypass jobs failed(.|\n)*'bad'(.|\n)*1024 NaN or infinite values") as info:
        run_sweep(tmp_path / "set", "nan-bypass", {}, [0], {"low": -5, "high": 5, "layout": "generic"}, tmp_path / "out",
                  jobs=1, progress=False)
    assert [r["sample"] for r in info.value.result.rows] == ["ok"]
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [f["sample"] for f in written["failures"]] == ["bad"]
    assert (tmp_path / "out" / "results.csv").read_text().count("\n") == 2  # header + the good row
