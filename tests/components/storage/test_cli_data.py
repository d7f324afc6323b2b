"""`fcbench data push|pull|ls|verify` through the real CLI entry point and a real S3 server."""
from __future__ import annotations

import numpy as np

from fcbench.codecs.features.featureset import FeatureSet
from fcbench.pipelines.cli import main


def test_push_ls_verify_pull(s3_env, bucket, featureset, tmp_path, capsys):
    uri = f"s3://{bucket}/dinov2/cls/features"
    assert main(["data", "push", str(featureset.root), uri]) == 0
    out = capsys.readouterr().out
    assert "5 files: 5 transferred" in out and uri in out

    assert main(["data", "push", str(featureset.root), uri]) == 0  # rerun: nothing to send
    assert "0 transferred" in capsys.readouterr().out

    assert main(["data", "ls", uri]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == sorted([".fcbench-index.json", "manifest.json"] + [f"{s}.npy" for s in featureset.ids])

    assert main(["data", "ls", "-l", uri]) == 0
    long = capsys.readouterr().out
    assert featureset.info("s000").sha256 in long

    assert main(["data", "verify", uri]) == 0
    assert "feature set intact" in capsys.readouterr().out

    dest = tmp_path / "pulled"
    assert main(["data", "pull", uri, str(dest)]) == 0
    capsys.readouterr()
    pulled = FeatureSet.open(dest)
    np.testing.assert_array_equal(pulled.read("s003"), featureset.read("s003"))
    assert main(["data", "verify", str(dest)]) == 0


def test_verify_exits_1_and_lists_problems(s3_env, bucket, featureset, capsys):
    from fcbench.components.storage import open_storage

    uri = f"s3://{bucket}/fs"
    assert main(["data", "push", str(featureset.root), uri]) == 0
    open_storage(uri).put_bytes("s001.npy", b"corrupted")
    capsys.readouterr()
    assert main(["data", "verify", uri]) == 1
    out = capsys.readouterr().out
    assert "problem" in out and "s001" in out and "sha256" in out


def test_verify_of_a_local_folder_without_manifest(tmp_path, capsys):
    (tmp_path / "a.npy").write_bytes(b"x")
    assert main(["data", "verify", str(tmp_path)]) == 1
    assert "nothing to verify against" in capsys.readouterr().out


def test_push_to_missing_bucket_and_create(s3_env, featureset, capsys):
    import uuid

    name = f"fcb-new-{uuid.uuid4().hex[:8]}"
    assert main(["data", "push", str(featureset.root), f"s3://{name}/fs"]) == 1
    assert f"bucket '{name}' does not exist" in capsys.readouterr().err
    assert main(["data", "push", str(featureset.root), f"s3://{name}/fs", "--create-bucket"]) == 0
    capsys.readouterr()
    assert main(["data", "verify", f"s3://{name}/fs"]) == 0
    from fcbench.components.storage import open_storage

    st = open_storage(f"s3://{name}")
    for key in st.ls():
        st.delete(key)
    st._client.remove_bucket(name)


def test_unreachable_endpoint_is_named(closed_port, s3_env, capsys):
    endpoint = f"127.0.0.1:{closed_port}"
    assert main(["data", "ls", "s3://somebucket/x", "--endpoint", endpoint]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the S3 endpoint http://{endpoint}" in err and err.startswith("fcbench data: error:")


def test_wrong_credentials_are_reported(s3_env, bucket, monkeypatch, capsys):
    monkeypatch.setenv("FCBENCH_S3_SECRET_KEY", "wrong-secret")
    assert main(["data", "ls", f"s3://{bucket}"]) == 1
    err = capsys.readouterr().err
    assert "refused access key" in err and "wrong-secret" not in err


def test_local_to_local_push(featureset, tmp_path, capsys):
    dest = tmp_path / "copy"
    assert main(["data", "push", str(featureset.root), str(dest)]) == 0
    assert main(["data", "verify", str(dest)]) == 0
    assert FeatureSet.open(dest).verify() == []


def test_ls_of_a_missing_local_folder_is_an_error(tmp_path, capsys):
    assert main(["data", "ls", str(tmp_path / "typo")]) == 1
    assert f"{tmp_path / 'typo'} is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["data", "ls", str(tmp_path / "empty")]) == 0
    assert "(nothing under" in capsys.readouterr().out
