"""An S3 endpoint that accepts connections but never answers fails after a bounded, configurable
number of bounded waits (issue #12 item 10). The timeouts are made small here; the default
(about 30 s) is shown by `benchmarks/fault_injection.py --case s3-blackhole`."""
from __future__ import annotations

import pytest

from fcbench.components.storage import StorageConfig, StorageError
from fcbench.pipelines.cli import main
from tests.faults import BlackHole

FAST = {"FCBENCH_S3_CONNECT_TIMEOUT": "2", "FCBENCH_S3_READ_TIMEOUT": "0.5", "FCBENCH_S3_RETRIES": "1"}


def test_timeouts_and_retries_are_settings():
    cfg = StorageConfig.from_env(FAST)
    assert (cfg.connect_timeout, cfg.read_timeout, cfg.retries) == (2.0, 0.5, 1)
    default = StorageConfig.from_env({})
    # a black hole costs (1 + retries) read timeouts: about 30 s by default
    assert (1 + default.retries) * default.read_timeout <= 30 and default.connect_timeout <= 10
    assert StorageConfig.from_env({"FCBENCH_S3_RETRIES": "0"}).retries == 0
    # uploads and downloads wait longer: a server assembles a large multipart object first
    assert default.transfer_timeout >= 60 and StorageConfig.from_env({"FCBENCH_S3_TRANSFER_TIMEOUT": "300"}).transfer_timeout == 300
    for name, bad in (("FCBENCH_S3_READ_TIMEOUT", "0"), ("FCBENCH_S3_READ_TIMEOUT", "soon"), ("FCBENCH_S3_RETRIES", "-1")):
        with pytest.raises(StorageError, match=f"{name}={bad!r} must be"):
            StorageConfig.from_env({name: bad})


def test_a_black_hole_endpoint_fails_after_one_try_per_retry(monkeypatch, capsys):
    with BlackHole() as hole:
        for name, value in {**FAST, "FCBENCH_S3_ENDPOINT": hole.endpoint, "FCBENCH_S3_ACCESS_KEY": "k",
                            "FCBENCH_S3_SECRET_KEY": "s", "FCBENCH_S3_REGION": "us-east-1"}.items():
            monkeypatch.setenv(name, value)
        assert main(["data", "ls", "s3://bucket/prefix"]) == 1
        err = capsys.readouterr().err
        assert f"cannot reach the S3 endpoint {hole.endpoint}" in err and "timed out" in err
        assert len(err.strip().splitlines()) == 1
        assert hole.connections == 2  # the first try and one retry, then the error
