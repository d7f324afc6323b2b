"""Servers on loopback for tests (and benchmarks/fault_injection.py) that check how fcbench
fails: a real S3 server (moto) with a bucket, a black hole (accepts connections, never answers),
an HTTP server that answers a health probe and then drops every other request (a server dying
behind its probe); and whether a process still runs."""
from __future__ import annotations

import contextlib
import logging
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, Optional


@contextlib.contextmanager
def moto_s3() -> Iterator[tuple[dict[str, str], str]]:
    """A moto S3 server on a free loopback port with a fresh bucket: yields (the FCBENCH_S3_*
    environment that reaches it, the bucket name); the server stops afterwards."""
    from moto.server import ThreadedMotoServer

    from fcbench.components.storage import StorageConfig
    from fcbench.components.storage.s3 import S3Storage

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"FCBENCH_S3_ENDPOINT": f"http://{host}:{port}", "FCBENCH_S3_ACCESS_KEY": "fcbench-test",
           "FCBENCH_S3_SECRET_KEY": "fcbench-test-secret", "FCBENCH_S3_REGION": "us-east-1"}
    bucket = f"fcb-{uuid.uuid4().hex[:12]}"
    try:
        S3Storage(bucket, "", StorageConfig.from_env(env)).ensure_bucket()
        yield env, bucket
    finally:
        server.stop()


def is_running(pid: int) -> bool:
    """Is `pid` a live process (a zombie waiting for its reaper is not)?"""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


class BlackHole:
    """A TCP port that accepts every connection and never sends a byte (a hung endpoint).
    `connections` counts the connections made to it."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._held.append(conn)

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for conn in self._held:
                conn.close()

    def __enter__(self) -> "BlackHole":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _HealthOnly(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/health"):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")
            return
        self.server.dropped += 1  # type: ignore[attr-defined]
        self.close_connection = True  # no answer at all: the connection just closes

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


class DyingServer:
    """An HTTP server that passes a /health probe and drops every other request unanswered."""

    handler: type[BaseHTTPRequestHandler] = _HealthOnly

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self._server.dropped = 0  # type: ignore[attr-defined]
        self._server.answered = 0  # type: ignore[attr-defined]
        self._thread: Optional[threading.Thread] = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def dropped(self) -> int:
        return self._server.dropped  # type: ignore[attr-defined]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "DyingServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Answering(BaseHTTPRequestHandler):
    """Reads the request's body, answers 200 with `headers_out()`, then `body()` (not to a HEAD);
    every method alike."""

    def headers_out(self) -> dict[str, str]:
        return {"Content-Length": "0", "ETag": '"0"'}

    def body(self) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        for name, value in self.headers_out().items():
            self.send_header(name, value)
        self.end_headers()
        self.server.answered += 1  # type: ignore[attr-defined]
        if self.command != "HEAD":
            self.body()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


class _YesToEverything(_Answering):
    """Answers 200 with an empty body to every request, whatever it asked (and stores nothing)."""


class YesServer(DyingServer):
    """An S3 endpoint that says yes to everything: 200 OK, empty, to every request."""

    handler = _YesToEverything

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def answered(self) -> int:
        return self._server.answered  # type: ignore[attr-defined]


class _Trickle(_Answering):
    """Answers 200 at once, then sends its body one byte per `interval` seconds, forever."""

    def headers_out(self) -> dict[str, str]:
        return {"Content-Length": str(1 << 20)}

    def body(self) -> None:
        stopped: threading.Event = self.server.stopped  # type: ignore[attr-defined]
        try:
            while not stopped.wait(self.server.interval):  # type: ignore[attr-defined]
                self.wfile.write(b"<")
                self.wfile.flush()
        except OSError:  # the client cut the connection
            pass
        self.close_connection = True


class TrickleServer(YesServer):
    """An S3 endpoint that answers 200 and then trickles its body, one byte per `interval` s."""

    handler = _Trickle

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__()
        self._server.interval = interval  # type: ignore[attr-defined]
        self._server.stopped = threading.Event()  # type: ignore[attr-defined]

    def close(self) -> None:
        self._server.stopped.set()  # type: ignore[attr-defined]
        super().close()
