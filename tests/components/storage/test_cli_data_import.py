"""`fcbench data import` into object storage (a real S3 server on loopback)."""
from __future__ import annotations

import numpy as np

from fcbench.codecs.features import testsets
from fcbench.components.storage import open_storage
from fcbench.pipelines.cli import main
from tests.codecs.features.released import write_released

CSR = testsets.official_ids("llama3", "csr")


def test_import_to_s3_resumes_and_reimport_sends_nothing(s3_env, bucket, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FCBENCH_STAGE_DIR", str(tmp_path / "stage"))
    src = tmp_path / "feature_test"
    lengths = testsets.arc_lengths()
    feats = [write_released(src, sid, (1, 1, lengths[sid], 4096), seed=i) for i, sid in enumerate(CSR[:2])]
    uri = f"s3://{bucket}/llama3/csr/features"
    args = ["data", "import", str(src), "--model", "llama3", "--task", "csr", "--out", uri]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 copied" in out and "3 files: 3 transferred" in out  # 2 samples + manifest (the index is apart)
    assert main(["data", "verify", uri]) == 0
    capsys.readouterr()
    storage = open_storage(uri)
    assert storage.exists(f"{CSR[1]}.npy")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "0 copied, 2 unchanged" in out and "0 transferred" in out
    pulled = tmp_path / "pulled"
    assert main(["data", "pull", uri, str(pulled)]) == 0
    np.testing.assert_array_equal(np.load(pulled / f"{CSR[0]}.npy"), feats[0])
