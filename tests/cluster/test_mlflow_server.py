"""Start the MLflow server exactly as manifests/base/mlflow.yaml does (command, args, env from the
rendered local overlay), with two substitutions this machine needs: SQLite for Postgres (no
Postgres server here) and a loopback moto S3 server for MinIO. Then check what the manifest
promises: the Service name passes MLflow's Host-header guard, a foreign host does not, and
artifacts logged through the server land in the artifacts bucket."""
from __future__ import annotations

import http.client
import http.server
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fcbench.components import cluster
from tests.cluster.helpers import named, render


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def moto_s3():
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _get(port: int, path: str, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        return conn.getresponse().status
    finally:
        conn.close()


class RouteProxy(http.server.ThreadingHTTPServer):
    """What Istio does with the mlflow-gateway VirtualService's HTTP routes (exact match:
    redirect; prefix match: rewrite the prefix and the authority, forward), on loopback, with
    the destination replaced by the local MLflow server (substitution 3)."""

    def __init__(self, routes: list[dict], upstream_port: int):
        self.routes, self.upstream_port = routes, upstream_port
        super().__init__(("127.0.0.1", 0), _RouteHandler)


class _RouteHandler(http.server.BaseHTTPRequestHandler):
    server: RouteProxy

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        path = self.path.split("?")[0]
        for route in self.server.routes:
            uri = route["match"][0]["uri"]
            if uri.get("exact") == path:
                self.send_response(301)
                self.send_header("Location", route["redirect"]["uri"])
                self.end_headers()
                return
            if "prefix" in uri and self.path.startswith(uri["prefix"]):
                rewritten = route["rewrite"]["uri"] + self.path[len(uri["prefix"]):]
                conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=20)
                conn.request("GET", rewritten, headers={"Host": route["rewrite"]["authority"]})
                answer = conn.getresponse()
                body = answer.read()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.getheader("Content-Type") or "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                conn.close()
                return
        self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


def _browse_through_the_gateway_route(kubectl, tmp_path: Path, port: int) -> None:
    """A browser at https://<kubeflow>/mlflow/team-alice gets the UI, its assets and its API
    through the route the mlflow-gateway component declares."""
    import threading

    from tests.cluster.test_mlflow_gateway import gateway_overlay

    folder = tmp_path / "gateway"
    folder.mkdir()
    vs = named(gateway_overlay(kubectl, folder), "VirtualService", cluster.MLFLOW_SERVICE)
    proxy = RouteProxy(vs["spec"]["http"], port)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        def get(path: str) -> tuple[int, bytes, str]:
            conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1], timeout=30)
            conn.request("GET", path, headers={"Host": "kubeflow.example.org"})
            answer = conn.getresponse()
            result = answer.status, answer.read(), answer.getheader("Location") or ""
            conn.close()
            return result

        status, _, location = get("/mlflow/team-alice")
        assert (status, location) == (301, "/mlflow/team-alice/")
        status, page, _ = get("/mlflow/team-alice/")
        assert status == 200 and b"<html" in page.lower()
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.decode())
        assert assets and not [a for a in assets if a.startswith("/")], f"absolute asset paths escape the prefix: {assets}"
        for asset in assets:
            assert get("/mlflow/team-alice/" + asset.removeprefix("./"))[0] == 200, asset
        assert get("/mlflow/team-alice/ajax-api/2.0/mlflow/experiments/search?max_results=1")[0] == 200
    finally:
        proxy.shutdown()
        proxy.server_close()


@pytest.mark.slow  # the server alone needs ~15 s to start on an idle 2-core machine
@pytest.mark.timeout(300)
def test_mlflow_server_runs_as_deployed(kubectl, moto_s3, tmp_path):
    import boto3

    docs = render(kubectl, "overlays/local")
    container = named(docs, "Deployment", cluster.MLFLOW_SERVICE)["spec"]["template"]["spec"]["containers"][0]
    config = named(docs, "ConfigMap", cluster.ENDPOINTS_CONFIG_MAP)["data"]
    secrets = {("fcbench-postgres", "username"): "mlflow", ("fcbench-postgres", "password"): "pw",
               ("fcbench-mlflow-s3", "accesskey"): "testing", ("fcbench-mlflow-s3", "secretkey"): "testing"}

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
    for item in container["env"]:
        source = item.get("valueFrom", {})
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[item["name"]] = secrets[(ref["name"], ref["key"])]
        elif "configMapKeyRef" in source:
            env[item["name"]] = config[source["configMapKeyRef"]["key"]]
        else:  # Kubernetes expands $(VAR) of variables defined above
            env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], item["value"])
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://mlflow:pw@fcbench-postgres:5432/")
    env["MLFLOW_BACKEND_STORE_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"  # substitution 1: SQLite for Postgres
    env["MLFLOW_S3_ENDPOINT_URL"] = moto_s3  # substitution 2: moto for MinIO
    bucket = env["MLFLOW_ARTIFACTS_DESTINATION"].removeprefix("s3://").strip("/")
    s3 = boto3.client("s3", endpoint_url=moto_s3, aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)

    port = _free_port()
    args = []
    for arg in container["args"]:
        arg = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)
        if arg.startswith("--host="):
            arg = "--host=127.0.0.1"  # loopback only on this machine
        elif arg.startswith("--port="):
            arg = f"--port={port}"
        args.append(arg)
    command = [str(Path(sys.executable).parent / container["command"][0]), *container["command"][1:], *args]
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _get(port, "/health", "localhost") == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, f"mlflow server exited: {(tmp_path / 'server.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "mlflow server did not become healthy in 90 s"
            time.sleep(0.5)

        api = "/api/2.0/mlflow/experiments/search?max_results=1"
        for host in ("fcbench-mlflow:5000", f"fcbench-mlflow.{cluster.DEFAULT_NAMESPACE}.svc.cluster.local:5000",
                     "localhost:5000"):
            assert _get(port, api, host) == 200, f"Host {host} refused"
        assert _get(port, api, "attacker.example:5000") == 403  # the guard is on, the list matters

        _browse_through_the_gateway_route(kubectl, tmp_path, port)

        import mlflow

        client = mlflow.MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")
        exp = client.create_experiment("cluster-check")
        run = client.create_run(exp)
        artifact = tmp_path / "rd.csv"
        artifact.write_text("qp,bpfp\n22,0.5\n")
        client.log_artifact(run.info.run_id, str(artifact))
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert any(k.endswith(f"{run.info.run_id}/artifacts/rd.csv") for k in keys), keys
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
