"""A loopback stand-in for the Kubeflow Pipelines REST API, as much of it as `fcbench upload`,
`submit` and `doctor --kfp-host` use: the version probe (the API server's answer, or the UI
server's under `/pipeline`), pipelines (list by name, upload, upload a version), experiments
(find or create) and runs (create, read), with the v2beta1 paths and bodies the kfp SDK sends.
It stores what it is sent and logs every request (method, path, query, Authorization header) so
tests can assert what reached the server. Not a KFP: it checks nothing a real backend checks."""
from __future__ import annotations

import email
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

import yaml


class FakeKFP:
    def __init__(self, tag: str = "2.16.0", multi_user: bool = True, ui_prefix: str = "") -> None:
        self.tag, self.multi_user, self.ui_prefix = tag, multi_user, ui_prefix
        self.requests: list[dict[str, Any]] = []
        self.pipelines: dict[str, dict] = {}
        self.versions: list[dict] = []
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.ui_prefix}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeKFP":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the API ------------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(handler.path)
        path = url.path[len(self.ui_prefix):] if self.ui_prefix and url.path.startswith(self.ui_prefix) else url.path
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query,
                                  "auth": handler.headers.get("Authorization")})
            status, answer = self._answer(method, path, query, body, handler.headers.get("Content-Type", ""))
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, method: str, path: str, query: dict, body: bytes, content_type: str) -> tuple[int, Any]:
        if path == "/apis/v1beta1/healthz":
            if self.ui_prefix:  # the UI server in front of the API server
                return 200, {"apiServerTagName": self.tag, "apiServerMultiUser": self.multi_user,
                             "frontendTagName": self.tag}
            return 200, {"commit_sha": "fake", "tag_name": self.tag, "multi_user": self.multi_user}
        if path == "/apis/v2beta1/healthz":  # the SDK's own probe (the UI server passes it to the API server)
            return 200, {"commit_sha": "fake", "tag_name": self.tag, "multi_user": self.multi_user}
        if (method, path) == ("GET", "/apis/v2beta1/pipelines"):
            name = _filtered_name(query)
            found = [p for p in self.pipelines.values() if p["display_name"] == name]
            return 200, {"pipelines": found, "total_size": len(found)} if found else {}
        if (method, path) == ("POST", "/apis/v2beta1/pipelines/upload"):
            pipeline = {"pipeline_id": uuid.uuid4().hex, "display_name": query.get("name"),
                        "namespace": query.get("namespace", ""), "description": query.get("description", "")}
            self.pipelines[pipeline["pipeline_id"]] = {**pipeline, "spec": _uploaded(body, content_type)}
            return 200, pipeline
        if (method, path) == ("POST", "/apis/v2beta1/pipelines/upload_version"):
            if query.get("pipelineid") not in self.pipelines:
                return 404, {"error": "no such pipeline"}
            version = {"pipeline_id": query["pipelineid"], "pipeline_version_id": uuid.uuid4().hex,
                       "display_name": query.get("name")}
            self.versions.append({**version, "spec": _uploaded(body, content_type)})
            return 200, version
        if (method, path) == ("GET", "/apis/v2beta1/experiments"):
            name = _filtered_name(query)
            found = [e for e in self.experiments.values() if e["display_name"] == name]
            return 200, {"experiments": found, "total_size": len(found)} if found else {}
        if (method, path) == ("POST", "/apis/v2beta1/experiments"):
            sent = json.loads(body)
            experiment = {"experiment_id": uuid.uuid4().hex, "display_name": sent.get("display_name"),
                          "namespace": sent.get("namespace", "")}
            self.experiments[experiment["experiment_id"]] = experiment
            return 200, experiment
        if (method, path) == ("POST", "/apis/v2beta1/runs"):
            run = {**json.loads(body), "run_id": uuid.uuid4().hex, "state": "PENDING"}
            self.runs[run["run_id"]] = run
            return 200, run
        if method == "GET" and path.startswith("/apis/v2beta1/runs/"):
            run = self.runs.get(path.rsplit("/", 1)[1])
            return (200, run) if run else (404, {"error": "no such run"})
        return 404, {"error": f"the fake has no {method} {path}"}


def _filtered_name(query: dict) -> Optional[str]:
    """The display name an SDK list call filters on (its `filter` is a JSON predicate list)."""
    predicates = json.loads(query.get("filter") or "{}").get("predicates", [])
    return next((p.get("stringValue", p.get("string_value")) for p in predicates), None)


def _uploaded(body: bytes, content_type: str) -> list[dict]:
    """The IR documents of a multipart upload's `uploadfile` part."""
    message = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.walk():
        if part.get_param("name", header="content-disposition") == "uploadfile":
            return list(yaml.safe_load_all(part.get_payload(decode=True)))
    raise AssertionError("the upload had no uploadfile part")
