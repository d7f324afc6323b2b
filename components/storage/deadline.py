"""A total deadline for every S3 request, on top of urllib3's per-read timeout.

urllib3's read timeout bounds each wait for a byte, so an endpoint that answers and then sends
one byte every few seconds (a broken proxy, a dying disk behind the server) keeps a request alive
forever. Here every connection arms a timer when it sends a request; when the request (its
answer read to the end, or the streamed body released) is not done by the deadline, the timer
shuts the socket down, the blocked read returns, and the request fails like a broken connection
(retried, then reported). The deadline is `base` seconds plus the body's size at `min_rate`
bytes per second, so large transfers get the time a working link needs.
"""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any, Optional

import urllib3
from urllib3 import connectionpool
from urllib3.connection import HTTPConnection, HTTPSConnection


@dataclass(frozen=True)
class Deadline:
    """How long one request may take: `base` seconds + its body's bytes / `min_rate`."""

    base: float
    min_rate: float  # bytes per second

    def seconds(self, body_bytes: int) -> float:
        return self.base + max(body_bytes, 0) / self.min_rate


class Expiries:
    """Which threads' requests were cut by their deadline (so an error can say why)."""

    def __init__(self) -> None:
        self._threads: set[int] = set()
        self._lock = threading.Lock()

    def add(self, thread: int) -> None:
        with self._lock:
            self._threads.add(thread)

    def pop(self, thread: Optional[int] = None) -> bool:
        """Was a request of `thread` (default: this one) cut since the last call?"""
        with self._lock:
            thread = threading.get_ident() if thread is None else thread
            found = thread in self._threads
            self._threads.discard(thread)
            return found


def _content_length(headers: Any) -> int:
    try:
        return int((headers or {}).get("Content-Length") or 0)
    except (TypeError, ValueError):
        return 0


class _DeadlineConnection:
    """Mixed into urllib3's connections: a timer per request that cuts the socket when it fires."""

    def __init__(self, *args: Any, deadline: Deadline, expiries: Expiries, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline, self._expiries = deadline, expiries
        self._timer: Optional[threading.Timer] = None
        self._requester = 0
        self._deadline_sock: Optional[socket.socket] = None

    def _arm(self, seconds: float) -> None:
        self.disarm()
        self._requester = threading.get_ident()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        sock = self.sock or self._deadline_sock  # type: ignore[attr-defined]
        if sock is None:
            return
        self._expiries.add(self._requester)  # first: the cut wakes the reader, which asks at once
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed: the request ended as the timer fired
            self._expiries.pop(self._requester)

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        self._arm(self._deadline.seconds(_content_length(headers)))
        super().request(method, url, body=body, headers=headers, **kwargs)  # type: ignore[misc]
        self._deadline_sock = self.sock  # type: ignore[attr-defined]

    def getresponse(self) -> Any:
        options = self._response_options  # type: ignore[attr-defined]
        response = super().getresponse()  # type: ignore[misc]
        if options is not None and not options.preload_content:
            # A streamed download: its body is read after this; give it time for its size.
            self._arm(self._deadline.seconds(_content_length(response.headers)))
        return response

    # No close(): http.client closes the connection when the answer says so and hands the socket
    # to the response, whose body is still to be read; the timer runs on until the pool takes
    # the connection back (the socket kept here is the one it cuts).


class _HTTP(_DeadlineConnection, HTTPConnection):
    pass


class _HTTPS(_DeadlineConnection, HTTPSConnection):
    pass


class _ReleaseDisarms:
    """A connection back in its pool has finished its request: its timer must not fire."""

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.disarm()
        super()._put_conn(conn)  # type: ignore[misc]


# urllib3's own names: they appear in its error messages ("HTTPConnectionPool(host=..., port=...)").
class HTTPConnectionPool(_ReleaseDisarms, connectionpool.HTTPConnectionPool):
    ConnectionCls = _HTTP


class HTTPSConnectionPool(_ReleaseDisarms, connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPS


class DeadlinePoolManager(urllib3.PoolManager):
    """urllib3's PoolManager whose requests each have a total `deadline`; `expiries` records
    the threads whose request it cut."""

    def __init__(self, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deadline = deadline
        self.expiries = Expiries()
        self.pool_classes_by_scheme = {"http": HTTPConnectionPool, "https": HTTPSConnectionPool}

    def _new_pool(self, scheme: str, host: str, port: int,
                  request_context: Optional[dict[str, Any]] = None) -> connectionpool.HTTPConnectionPool:
        # Added here, not to connection_pool_kw: the pool key is built from those and has no such fields.
        context = dict(request_context if request_context is not None else self.connection_pool_kw)
        context.update(deadline=self.deadline, expiries=self.expiries)
        return super()._new_pool(scheme, host, port, context)
