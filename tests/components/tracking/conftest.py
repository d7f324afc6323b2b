"""A real MLflow server on loopback (sqlite backend, proxied local artifacts), one per session."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fcbench.components.reporting import RDPoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def _mlflow_server_process(tmp_path_factory):
    """Start the server at session start (it takes ~15-50 s to boot on 2 busy cores) so the
    pure tests run meanwhile; `mlflow_server` waits for it."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = open(root / "server.log", "wb")
    proc = subprocess.Popen(
        [str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--artifacts-destination", str(root / "artifacts"),
         "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        yield proc, f"http://127.0.0.1:{port}", root / "server.log"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (start_new_session)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def mlflow_server(_mlflow_server_process) -> str:
    """URI of a real MLflow server on loopback: sqlite backend, artifacts proxied to a local folder."""
    proc, uri, log = _mlflow_server_process
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(uri + "/health", timeout=1) as r:
                if r.status == 200:
                    return uri
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"mlflow server not ready in 120 s: {log.read_text()[-2000:]}")
        time.sleep(0.3)


def make_curve(codec: str, rates, values, model="m", task="t", metric="acc", direction="higher", **extra) -> list[RDPoint]:
    return [RDPoint(model=model, task=task, label=codec, rate_point=22 + 5 * i, bpfp=r, ebpfp=r, metric=metric,
                    metric_value=v, direction=direction, feature_mse=0.01 / (i + 1), **extra)
            for i, (r, v) in enumerate(zip(rates, values))]


@pytest.fixture
def curve():
    """Build an RD curve of RDPoints: curve(codec, rates, values, **fields)."""
    return make_curve
