"""A push to a server that answers HTTP 200 to everything stores nothing: the push must fail,
naming the object, instead of reporting it transferred (#24 item 2). Every object is confirmed by
the store after its upload (size and sha256 from the store)."""
from __future__ import annotations

import pytest

from fcbench.pipelines.cli import main
from tests.faults import YesServer


def test_a_push_to_a_yes_server_fails_naming_the_object(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"feature bytes")
    with YesServer() as server:
        for name, value in {"FCBENCH_S3_ENDPOINT": server.endpoint, "FCBENCH_S3_ACCESS_KEY": "k",
                            "FCBENCH_S3_SECRET_KEY": "s", "FCBENCH_S3_REGION": "us-east-1",
                            "FCBENCH_S3_RETRIES": "0"}.items():
            monkeypatch.setenv(name, value)
        code = main(["data", "push", str(folder), "s3://bucket/x"])
        err = capsys.readouterr()
        from fcbench.components.storage import StorageError, open_storage

        with pytest.raises(StorageError, match="accepted the upload but holds 0 bytes"):
            open_storage("s3://bucket/x").put_bytes("a.bin", b"feature bytes")  # the upload, then its check
    assert code == 1, err.out
    assert "transferred" not in err.out and len(err.err.strip().splitlines()) == 1
    assert "not an S3 response" in err.err or "holds 0 bytes" in err.err
