"""Fixtures: a REAL S3-compatible server (moto) on loopback that checks signatures and
credentials, per-test buckets, and a TCP proxy that breaks a connection mid-transfer."""
from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import pytest

from fcbench.codecs.features.featureset import FeatureSet
from fcbench.components.storage import StorageConfig

REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server on a free loopback port; yields its http://host:port URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _set_auth(endpoint: str, count: str) -> None:
    # moto's switch for IAM checks: "0" = every request must be signed by a known IAM key.
    req = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=count.encode(), method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


@pytest.fixture(scope="module")
def s3_credentials(s3_server: str) -> Iterator[tuple[str, str]]:
    """An IAM user allowed everything; while a storage test module runs, the server rejects
    any other credentials (moto's auth switch is process-wide, so it is restored after)."""
    import boto3

    _set_auth(s3_server, "inf")
    iam = boto3.client("iam", endpoint_url=s3_server, region_name=REGION, aws_access_key_id="setup", aws_secret_access_key="setup")
    user = f"fcbench-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    policy = iam.create_policy(
        PolicyName=f"{user}-all",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    )
    iam.attach_user_policy(UserName=user, PolicyArn=policy["Policy"]["Arn"])
    key = iam.create_access_key(UserName=user)["AccessKey"]
    _set_auth(s3_server, "0")
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        _set_auth(s3_server, "inf")


@pytest.fixture(scope="module")
def s3_config(s3_server: str, s3_credentials: tuple[str, str]) -> StorageConfig:
    access, secret = s3_credentials
    return StorageConfig(endpoint=s3_server, access_key=access, secret_key=secret, region=REGION, connect_timeout=2.0, retries=1)


@pytest.fixture
def bucket(s3_config: StorageConfig) -> Iterator[str]:
    """A fresh, empty bucket; emptied and removed after the test (moto keeps data in RAM)."""
    from fcbench.components.storage.s3 import S3Storage

    name = f"fcb-{uuid.uuid4().hex[:12]}"
    storage = S3Storage(name, "", s3_config)
    storage.ensure_bucket()
    yield name
    client = storage._client
    for obj in client.list_objects(name, recursive=True):
        client.remove_object(name, obj.object_name)
    client.remove_bucket(name)


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_config: StorageConfig) -> StorageConfig:
    """The same server and credentials, given the way users give them: environment variables."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FCBENCH_S3_SECURE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FCBENCH_S3_ENDPOINT", s3_config.endpoint)
    monkeypatch.setenv("FCBENCH_S3_ACCESS_KEY", s3_config.access_key)
    monkeypatch.setenv("FCBENCH_S3_SECRET_KEY", s3_config.secret_key)
    monkeypatch.setenv("FCBENCH_S3_REGION", REGION)
    return s3_config


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BreakingProxy:
    """A loopback TCP proxy to `target`. While `cut_after` is set, the first connection whose
    server->client traffic exceeds it is closed abruptly (a transfer dying mid-way), once."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.cut_after: Optional[int] = None
        self.to_client = 0  # bytes relayed server -> client, all connections
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        sent = 0
        try:
            while data := src.recv(1 << 16):
                if downstream:
                    with self._lock:
                        cut = self.cut_after is not None and sent + len(data) > self.cut_after
                        if cut:
                            self.cut_after = None
                        self.to_client += len(data)
                    if cut:
                        break
                    sent += len(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


@pytest.fixture
def proxy(s3_server: str) -> Iterator[BreakingProxy]:
    host, port = s3_server.removeprefix("http://").split(":")
    p = BreakingProxy((host, int(port)))
    yield p
    p.close()


def make_featureset(root: Path, n: int = 4, shape: tuple[int, ...] = (1, 8, 6, 5)) -> FeatureSet:
    """A small real feature set (random float32 features, manifest with sha256 each)."""
    rng = np.random.default_rng(7)
    with FeatureSet.create(root, model="dinov2", task="cls", split_point="blocks.10") as fs:
        for i in range(n):
            fs.write(f"s{i:03d}", rng.standard_normal(shape).astype(np.float32))
    return fs


@pytest.fixture
def featureset(tmp_path: Path) -> FeatureSet:
    return make_featureset(tmp_path / "fs")
