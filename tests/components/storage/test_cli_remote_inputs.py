"""CLI inputs given as s3:// URIs are staged locally before the pure layers see them."""
from __future__ import annotations

import json

from fcbench.codecs.features.featureset import FeatureSet
from fcbench.pipelines.cli import main


def test_encode_reads_a_feature_set_from_s3(s3_env, bucket, featureset, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FCBENCH_STAGE_DIR", str(tmp_path / "stage"))
    uri = f"s3://{bucket}/m/t/features"
    assert main(["data", "push", str(featureset.root), uri]) == 0
    capsys.readouterr()
    out = tmp_path / "sweep"
    assert main(["encode", "--features", uri, "--codec", "bypass", "--qp", "0", "--out", str(out),
                 "--low", "-3", "--high", "3", "-j", "1", "--no-progress", "--json"]) == 0
    capsys.readouterr()
    results = json.loads((out / "results.json").read_text())
    assert {r["sample"] for r in results["rows"]} == set(featureset.ids)
    staged = list((tmp_path / "stage").rglob("manifest.json"))
    assert staged and FeatureSet.open(staged[0].parent).verify() == []


def test_missing_remote_input_is_named(s3_env, bucket, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FCBENCH_STAGE_DIR", str(tmp_path / "stage"))
    uri = f"s3://{bucket}/nothing/here"
    rc = main(["encode", "--features", uri, "--codec", "bypass", "--qp", "0", "--out", str(tmp_path / "o"),
               "--low", "-3", "--high", "3"])
    assert rc == 1
    assert bucket in capsys.readouterr().err
