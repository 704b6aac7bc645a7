"""Kept-alive HTTP connections for direct requests (no proxy), straight on http.client.

    connections = Connections(context, per_host=3, hosts=1024)
    reply = connections.get("https", "example.org", 443, "/feed", headers,
                            connect_timeout=10, read_timeout=30)
    ...  # reply.status, reply.headers, reply.read1(n)
    reply.release(complete=True)     # back to the idle list, or closed

http.client is the standard library's HTTP/1.1 client; using it without urllib3's
layers on top halves the CPU a conditional GET costs (a 304 is the common case of
a poll). Proxied requests still go through urllib3 (see http.py).

Thread-safe. Idle connections are kept per (scheme, host, port), at most ``per_host``
each, for at most ``hosts`` hosts (the least recently used are closed), and for at most
``max_idle`` seconds (servers close theirs sooner or later; each idle one holds a file
descriptor). An idle connection the server has closed is noticed before reuse; one that
fails before any response byte is retried once on a fresh connection (GET is idempotent).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

from urllib3.util.wait import wait_for_read

from monitor.errors import FetchError

_Key = tuple[str, str, int]
_Idle = tuple[http.client.HTTPConnection, float]    # a connection, and since when it idles
MAX_IDLE = 60.0

# Raised when a kept-alive connection turns out to be closed by the server.
_STALE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError,
          http.client.RemoteDisconnected, ssl.SSLEOFError, ssl.SSLZeroReturnError)


class ConnectTimeout(TimeoutError):
    """The TCP connect (or the TLS handshake) took longer than the connect timeout."""


class DirectReply:
    """A response whose body has not been read yet, on a connection of ours."""

    def __init__(self, owner: Connections, key: _Key, conn: http.client.HTTPConnection,
                 sock: socket.socket, response: http.client.HTTPResponse) -> None:
        self._owner = owner
        self._key = key
        self._conn = conn
        self._sock = sock       # conn.sock is None once a "Connection: close" reply begins
        self._response = response
        self.status = response.status
        self.reason = response.reason
        self.headers = merged_headers(response.headers.items())
        self.proxied = False

    @property
    def sock(self) -> socket.socket:
        return self._sock

    def read1(self, size: int) -> bytes:
        """Up to ``size`` bytes of the body as they come; b"" at its end. Raises
        http.client.IncompleteRead when the server closes before Content-Length."""
        missing = self._response.length
        data = self._response.read1(size)
        if not data and size and missing:
            raise http.client.IncompleteRead(b"", missing)
        return data

    def read_all(self) -> bytes:
        return self._response.read()

    def release(self, complete: bool) -> None:
        """Keep the connection when the body was read whole and the server keeps it open."""
        self._response.close()
        if complete and self._conn.sock is not None and not self._response.will_close:
            self._owner.put(self._key, self._conn)
        else:
            self._conn.close()


def merged_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-case names -> values, repeated headers joined by ", " (as RFC 9110 allows)."""
    merged: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


class Connections:
    """Idle kept-alive connections per host, and the requests sent on them."""

    def __init__(self, context: ssl.SSLContext, per_host: int, hosts: int,
                 max_idle: float = MAX_IDLE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._context = context
        self._per_host = per_host
        self._hosts = hosts
        self._max_idle = max_idle
        self._clock = clock
        self._idle: OrderedDict[_Key, list[_Idle]] = OrderedDict()
        self._swept = clock()
        self._lock = threading.Lock()

    def get(self, scheme: str, host: str, port: int, path: str, headers: Mapping[str, str],
            *, connect_timeout: float, read_timeout: float,
            deadline: float | None = None) -> DirectReply:
        """Send ``GET path`` and read the status and headers, within the timeouts and by
        ``deadline`` (a value of the clock, time.monotonic() by default), a retry on a fresh
        connection included.

        Raises ConnectTimeout, TimeoutError (reading, or the deadline passed), OSError,
        ssl.SSLError or http.client.HTTPException; FetchError for a header value
        http.client refuses.
        """
        key = (scheme, host, port)
        while True:
            connect, read = connect_timeout, read_timeout
            if deadline is not None:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise TimeoutError("deadline passed")
                connect, read = min(connect, remaining), min(read, remaining)
            conn = self._take(key)
            reused = conn is not None
            if conn is None:
                conn = self._connect(key, connect)
            sock: socket.socket = conn.sock  # type: ignore[assignment]
            try:
                sock.settimeout(read)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
            except _STALE:
                conn.close()
                if reused:
                    continue          # the server closed it while idle: a fresh one
                raise
            except ValueError as exc:   # a header value http.client refuses to send
                conn.close()
                raise FetchError(f"invalid request: {exc}") from exc
            except BaseException:
                conn.close()
                raise
            return DirectReply(self, key, conn, sock, response)

    def _connect(self, key: _Key, timeout: float) -> http.client.HTTPConnection:
        scheme, host, port = key
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                               context=self._context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise ConnectTimeout(str(exc)) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _take(self, key: _Key) -> http.client.HTTPConnection | None:
        """An idle connection to ``key`` that the server has not closed, if any."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                conn, since = idle.pop()
            sock = conn.sock
            # Readable while idle: the server closed it (or sent garbage). Not reusable.
            if sock is not None and self._clock() - since < self._max_idle \
                    and not wait_for_read(sock, timeout=0.0):
                return conn
            conn.close()

    def put(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        """Keep a connection whose last response was read whole, for the next request."""
        now = self._clock()
        closing: list[_Idle] = []
        with self._lock:
            if now - self._swept >= self._max_idle:
                closing.extend(self._expire(now))
            idle = self._idle.get(key)
            if idle is None:
                idle = self._idle[key] = []
                while len(self._idle) > self._hosts:
                    closing.extend(self._idle.popitem(last=False)[1])
            else:
                self._idle.move_to_end(key)
            if len(idle) < self._per_host:
                idle.append((conn, now))
            else:
                closing.append((conn, now))
        for extra, _ in closing:
            extra.close()

    def _expire(self, now: float) -> list[_Idle]:
        """Take out the connections idle for max_idle or longer (called with the lock)."""
        self._swept = now
        expired: list[_Idle] = []
        for key, idle in list(self._idle.items()):
            kept = [entry for entry in idle if now - entry[1] < self._max_idle]
            expired.extend(entry for entry in idle if now - entry[1] >= self._max_idle)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        return expired

    def clear(self) -> None:
        with self._lock:
            closing = [conn for idle in self._idle.values() for conn, _ in idle]
            self._idle.clear()
        for conn in closing:
            conn.close()


def open_files_limit() -> int:
    """The process's soft limit on open files (4,096 where it cannot be read)."""
    try:
        import resource
    except ImportError:     # not a Unix
        return 4096
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20
