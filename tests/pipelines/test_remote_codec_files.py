"""A codec file option given as a URI (the hyperprior's checkpoint, klt's table) is fetched by the
command before the codec sees it: a missing bucket is named as such, not answered with internal
module names (#24 item 9)."""
from __future__ import annotations

import numpy as np

from fcbench.codecs import FeatureSet
from fcbench.pipelines.cli import main
from tests.faults import moto_s3


def test_a_checkpoint_in_a_missing_bucket_is_named(tmp_path, monkeypatch, capsys):
    with FeatureSet.create(tmp_path / "set", "llama3", "csr", "synthetic") as fs:
        fs.write("a", np.zeros((1, 1, 16, 64), dtype=np.float32))
    with moto_s3() as (env, _bucket):
        for name, value in {**env, "FCBENCH_STAGE_DIR": str(tmp_path / "stage")}.items():
            monkeypatch.setenv(name, value)
        code = main(["encode", "--features", str(tmp_path / "set"), "--codec", "hyperprior", "--option",
                     "checkpoint=s3://nobucket/model.pth.tar", "--rate-points", "0.01", "--low", "-5", "--high", "5",
                     "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "bucket 'nobucket' does not exist" in err, err
    assert "fcbench.codecs" not in err and "fcbench.components" not in err
    assert len(err.strip().splitlines()) == 1
