"""Faulty servers on loopback, for tests that check how fcbench fails: a black hole (accepts
connections, never answers) and an HTTP server that answers a health probe and then drops every
other request (a server dying behind its probe)."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional


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

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _HealthOnly)
        self._server.dropped = 0  # type: ignore[attr-defined]
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
