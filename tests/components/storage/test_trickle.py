"""An S3 endpoint that answers at once and then sends one byte at a time never trips urllib3's
per-read timeout: every request also has a total deadline (its timeout plus its size at
FCBENCH_S3_MIN_RATE), so `data ls/push/pull` end with one clear line (#24 item 4)."""
from __future__ import annotations

import time

import pytest

from fcbench.components.storage.deadline import Deadline
from fcbench.pipelines.cli import main
from tests.faults import TrickleServer

FAST = {"FCBENCH_S3_CONNECT_TIMEOUT": "0.5", "FCBENCH_S3_READ_TIMEOUT": "1", "FCBENCH_S3_TRANSFER_TIMEOUT": "1",
        "FCBENCH_S3_MIN_RATE": "100000",
        "FCBENCH_S3_RETRIES": "1", "FCBENCH_S3_ACCESS_KEY": "k", "FCBENCH_S3_SECRET_KEY": "s",
        "FCBENCH_S3_REGION": "us-east-1"}


def test_a_deadline_grows_with_the_body():
    deadline = Deadline(base=8.0, min_rate=256 * 1024.0)
    assert deadline.seconds(0) == 8.0 and deadline.seconds(16 << 20) == 8.0 + 64.0


@pytest.mark.parametrize("command", [["data", "ls", "s3://bucket/prefix"],
                                     ["data", "pull", "s3://bucket/prefix", "{tmp}/pulled"],
                                     ["data", "push", "{tmp}/set", "s3://bucket/prefix"]])
def test_a_trickling_endpoint_fails_in_bounded_time(command, tmp_path, monkeypatch, capsys):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "a.bin").write_bytes(b"feature bytes")
    with TrickleServer(interval=0.2) as server:
        for name, value in {**FAST, "FCBENCH_S3_ENDPOINT": server.endpoint}.items():
            monkeypatch.setenv(name, value)
        start = time.monotonic()
        code = main([part.format(tmp=tmp_path) for part in command])
        took = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 1
    assert took < 15, f"{command} took {took:.1f} s"  # (1 + retries) requests of 2.5 s each, not forever
    assert "did not finish answering in time" in err and "FCBENCH_S3_MIN_RATE" in err, err
    assert len(err.strip().splitlines()) == 1, err
