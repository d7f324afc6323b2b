"""StorageConfig: endpoint and credentials from the environment, never from code."""
from __future__ import annotations

import re

import pytest

from fcbench.components.storage import StorageConfig, StorageError


def test_from_env_reads_fcbench_variables():
    cfg = StorageConfig.from_env({
        "FCBENCH_S3_ENDPOINT": "minio.kubeflow:9000",
        "FCBENCH_S3_ACCESS_KEY": "ak",
        "FCBENCH_S3_SECRET_KEY": "sk",
        "FCBENCH_S3_REGION": "eu-west-1",
    })
    assert (cfg.endpoint, cfg.access_key, cfg.secret_key, cfg.region) == ("minio.kubeflow:9000", "ak", "sk", "eu-west-1")
    assert cfg.resolve_endpoint() == ("minio.kubeflow:9000", False)  # bare host:port: http by default
    assert "sk" not in repr(cfg)


def test_aws_variables_are_the_fallback():
    cfg = StorageConfig.from_env({"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s", "FCBENCH_S3_ACCESS_KEY": ""})
    assert (cfg.access_key, cfg.secret_key) == ("a", "s")
    cfg = StorageConfig.from_env({"AWS_ACCESS_KEY_ID": "a", "FCBENCH_S3_ACCESS_KEY": "f"})
    assert cfg.access_key == "f"


@pytest.mark.parametrize(
    "endpoint, secure_env, expected",
    [
        ("http://h:9000", None, ("h:9000", False)),
        ("https://s3.example.org", None, ("s3.example.org", True)),
        ("h:9000", "true", ("h:9000", True)),
        ("h:9000", "0", ("h:9000", False)),
        ("https://h:443/", "false", ("h:443", False)),  # an explicit setting wins
        ("[::1]:9000", None, ("[::1]:9000", False)),
        ("http://[::1]", None, ("[::1]", False)),
    ],
)
def test_endpoint_forms(endpoint, secure_env, expected):
    env = {"FCBENCH_S3_ENDPOINT": endpoint}
    if secure_env is not None:
        env["FCBENCH_S3_SECURE"] = secure_env
    assert StorageConfig.from_env(env).resolve_endpoint() == expected


@pytest.mark.parametrize("endpoint", ["ftp://h:21", "http://h:9000/bucket", "h:9000/x"])
def test_bad_endpoints_are_refused(endpoint):
    with pytest.raises(StorageError, match="S3 endpoint"):
        StorageConfig(endpoint=endpoint).resolve_endpoint()


@pytest.mark.parametrize("endpoint, says", [("127.0.0.1:99999", "port '99999' is not a port number (1-65535)"),
                                            ("http://h:0", "port '0' is not"), ("h:http", "port 'http' is not"),
                                            (":9000", "has no host name")])
def test_bad_ports_are_named(endpoint, says):
    """#24 item 9: port 99999 used to fail with urllib3's "invalid port" alone."""
    with pytest.raises(StorageError, match=f"S3 endpoint '{re.escape(endpoint)}'.*{re.escape(says)}"):
        StorageConfig(endpoint=endpoint).resolve_endpoint()


def test_bad_secure_flag_and_missing_endpoint():
    with pytest.raises(StorageError, match="FCBENCH_S3_SECURE='maybe'"):
        StorageConfig.from_env({"FCBENCH_S3_SECURE": "maybe"})
    with pytest.raises(StorageError, match="set FCBENCH_S3_ENDPOINT"):
        StorageConfig.from_env({}).resolve_endpoint()


def test_overrides():
    cfg = StorageConfig.from_env({"FCBENCH_S3_ENDPOINT": "a:1"}, endpoint="b:2", retries=0)
    assert cfg.endpoint == "b:2" and cfg.retries == 0
