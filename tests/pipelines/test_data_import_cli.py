"""`fcbench data import` through the real CLI entry point (local destinations)."""
from __future__ import annotations

import numpy as np

from fcbench.codecs import FeatureSet
from fcbench.codecs.features import testsets
from fcbench.pipelines.cli import main
from tests.codecs.features.released import write_released

CLS = testsets.official_ids("dinov2", "cls")
TTI = testsets.official_ids("sd3", "tti")


def test_one_folder_exit_status_names_bad_files(tmp_path, capsys):
    src = tmp_path / "feature_test"
    write_released(src, CLS[0], (1, 1, 257, 1536))
    args = ["data", "import", str(src), "--model", "dinov2", "--task", "cls", "--out", str(tmp_path / "fs")]
    assert main(args) == 0  # missing samples are listed, not an error
    out = capsys.readouterr().out
    assert "1 copied" in out and "99 missing" in out and f"missing: {CLS[1]}.npy" in out
    write_released(src, CLS[1], (1, 1, 257, 1536), dtype=np.float16)
    assert main(args) == 1
    out = capsys.readouterr().out
    assert f"bad: {CLS[1]}.npy: dtype <f2 (float16), the test conditions say float32" in out and "1 unchanged" in out
    assert main(["data", "verify", str(tmp_path / "fs")]) == 0


def test_all_imports_every_feature_test_folder(tmp_path, capsys):
    root = tmp_path / "Data_example"
    write_released(root / "dinov2" / "cls" / "feature_test", CLS[0], (1, 1, 257, 1536))
    write_released(root / "sd3" / "tti" / "feature_test", TTI[0], (1, 16, 128, 128), dtype=np.float16)
    (root / "other" / "thing" / "feature_test").mkdir(parents=True)
    out_root = tmp_path / "sets"
    assert main(["data", "import", "--all", str(root), "--out", str(out_root)]) == 0
    out = capsys.readouterr().out
    assert "skipping" in out and "other/thing" in out
    assert FeatureSet.open(out_root / "dinov2" / "cls" / "features").ids == [CLS[0]]
    assert FeatureSet.open(out_root / "sd3" / "tti" / "features").info(TTI[0]).dtype == "float16"
    assert main(["data", "import", str(root), "--all", str(root), "--out", str(out_root)]) == 1
    assert main(["data", "import", str(root), "--out", str(out_root)]) == 1
