"""Kept-alive HTTP connections for direct requests (no proxy), straight on http.client.

    connections = Connections(context, per_host=3, hosts=1024)
    reply = connections.get("https", "example.org", 443, "/feed", headers,
                            connect_timeout=10, read_timeout=30)
    ...  # reply.status, reply.headers, reply.read1(n)
    reply.release(complete=True)     # back to the idle list, or closed

http.client is the standard library's HTTP/1.1 client; using it without urllib3's
layers on top halves the CPU a conditional GET costs (a 304 is the common case of
a poll). Proxied requests still go through urllib3 (see http.py).

Every read of a response (status line, headers, chunk framing, body) is bounded by the
read timeout and by what is left of the request's deadline, whatever the server sends:
a server that trickles its headers one byte a second is cut off at the deadline. The TCP
connect and the TLS handshake are bounded the same way. A request may be pinned to
addresses checked beforehand (see addresses.py): the connection goes to one of them, never
to what a second resolution of the name would say, while the Host header and the TLS
server name stay the host's.

Thread-safe. Idle connections are kept per (scheme, host, port, pinned addresses), at most
``per_host`` each, for at most ``hosts`` hosts (the least recently used are closed), and for at most
``max_idle`` seconds (servers close theirs sooner or later; each idle one holds a file
descriptor). An idle connection the server has closed is noticed before reuse; one that
fails before any response byte is retried once on a fresh connection (GET is idempotent).

One piece (over 400 lines) because the idle lists, the bounded reads and the retry on a
stale connection share each connection's state and lock; split, each half would reach into
the other's.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import struct
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from urllib3.util.wait import wait_for_read

from monitor.errors import FetchError
from monitor.fetch.addresses import Resolver, resolve_host
from monitor.fetch.response import Response

_Key = tuple[str, str, int, tuple[str, ...]]   # scheme, host, port, pinned addresses
_Idle = tuple["_Connection", float]    # a connection, and since when it idles
MAX_IDLE = 60.0
RECEIVE_BUFFER = 64 * 1024   # a response's read buffer (`TimedSocket.makefile`)

# Linux bounds a blocking socket's receives and sends itself (SO_RCVTIMEO, SO_SNDTIMEO).
# A socket with a Python timeout polls before each receive or send: two system calls where
# a blocking socket makes one, and each lets go of the GIL and takes it back, which wakes
# another thread when many fetch at once. So there a plain connection's socket is blocking
# once connected, and each read and write is bounded by the kernel (`Timing.bound`). The
# kernel bounds each call: a receive, and each send of a sendall (a GET's request fits in
# one). A signal that interrupts a wait makes Python retry the call, and the kernel's wait
# starts again. Only where a C long is 64 bits: a 32-bit build with a 64-bit time_t needs
# another option's larger timeval.
_TIMEVAL = struct.Struct("@ll")     # Linux's struct timeval: seconds, microseconds
KERNEL_TIMEOUTS = sys.platform.startswith("linux") and _TIMEVAL.size == 16

# Raised when a kept-alive connection turns out to be closed by the server.
_STALE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError,
          http.client.RemoteDisconnected, ssl.SSLEOFError, ssl.SSLZeroReturnError)


Connector = Callable[[tuple[str, int], float], socket.socket]
"""((host or address, port), timeout) -> a connected TCP socket: socket.create_connection."""


class ConnectTimeout(TimeoutError):
    """The TCP connect (or the TLS handshake) took longer than the connect timeout."""


class DeadlinePassed(TimeoutError):
    """The request's deadline passed before the server finished answering."""


class Timing:
    """The limits of the request a connection is serving now (set anew for each request)."""

    __slots__ = ("deadline", "connect_timeout", "read_timeout", "clock", "kernel")

    def __init__(self, clock: Callable[[], float]) -> None:
        self.deadline = float("inf")
        self.connect_timeout = 0.0
        self.read_timeout = 0.0
        self.clock = clock
        self.kernel = False   # the socket is blocking, its waits bounded by the kernel

    def left(self, limit: float) -> float:
        """``limit``, or less when the deadline comes sooner; DeadlinePassed when it passed."""
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            raise DeadlinePassed("deadline passed")
        return min(limit, remaining)

    def bound(self, sock: socket.socket, limit: float, *, sending: bool = False) -> None:
        """Bound the socket's next receives (or, ``sending``, sends) by ``limit`` or what
        is left of the deadline, whichever is less (DeadlinePassed when it passed). With
        ``kernel`` (a plain connection's blocking socket, see KERNEL_TIMEOUTS), by the
        kernel: a receive or send that waits longer fails with EAGAIN (BlockingIOError,
        or None from a SocketIO's readinto). Else by a Python timeout, set only when it
        changes (each change is a system call)."""
        seconds = self.left(limit)
        if self.kernel:
            micro = max(1, round(seconds * 1_000_000))     # 0 would mean "wait for ever"
            option = socket.SO_SNDTIMEO if sending else socket.SO_RCVTIMEO
            sock.setsockopt(socket.SOL_SOCKET, option,
                            _TIMEVAL.pack(*divmod(micro, 1_000_000)))
        elif sock.gettimeout() != seconds:
            sock.settimeout(seconds)


class _TimedReader(io.RawIOBase):
    """The raw reader under a response: each receive is bounded by the read timeout or what
    is left of the deadline, whichever is less (`Timing.bound`). http.client reads status,
    headers, chunk sizes and body through it, so no part can outlast the deadline."""

    def __init__(self, sock: socket.socket, timing: Timing) -> None:
        super().__init__()
        self._sock = sock
        # The socket's own unbuffered reader: it holds a reference that keeps the socket
        # open while the response is read after http.client closed the connection.
        self._raw = sock.makefile("rb", buffering=0)
        self._timing = timing

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int | None:
        self._timing.bound(self._sock, self._timing.read_timeout)
        received = self._raw.readinto(b)
        if received is None:    # a blocking socket's receive timed out (EAGAIN)
            raise TimeoutError("timed out")
        return received

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class TimedSocket:
    """What http.client.HTTPResponse is given instead of the socket: it only calls makefile."""

    __slots__ = ("_sock", "_timing")

    def __init__(self, sock: socket.socket, timing: Timing) -> None:
        self._sock = sock
        self._timing = timing

    def makefile(self, mode: str) -> io.BufferedReader:
        # A buffer as large as the fetcher's reads: the status line's first receive takes
        # the headers and as much of the body as has come (on a fast server, all of a
        # common feed; over TLS, one record, up to 16 KiB), not 8 KiB. Each receive
        # releases the GIL and takes it back, which costs most when many threads fetch at
        # once (benchmarks/fetch.py --threads 32: about a fifth less CPU a 30 KB fetch
        # than with io's default 8 KiB).
        return io.BufferedReader(_TimedReader(self._sock, self._timing), RECEIVE_BUFFER)


class _TimedResponses:
    """A connection's ``response_class``: responses that read under the connection's timing
    (their headers read by monitor/fetch/response.py)."""

    __slots__ = ("_timing",)

    def __init__(self, timing: Timing) -> None:
        self._timing = timing

    def __call__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> http.client.HTTPResponse:
        return Response(TimedSocket(sock, self._timing),  # type: ignore[arg-type]
                        *args, **kwargs)


class _Connection(http.client.HTTPConnection):
    """http.client's connection, connected to pinned addresses when it has any, reading its
    responses under its timing."""

    def __init__(self, host: str, port: int, timing: Timing, addresses: tuple[str, ...],
                 open_socket: Connector, resolve: Resolver = resolve_host) -> None:
        super().__init__(host, port, timeout=timing.connect_timeout)
        self.timing = timing
        self._addresses = addresses
        self._open_socket = open_socket
        self._resolve = resolve
        self.response_class = _TimedResponses(timing)  # type: ignore[assignment]

    def connect(self) -> None:
        sock = self._open_tcp()
        if KERNEL_TIMEOUTS:
            sock.settimeout(None)    # blocking: the kernel bounds its waits (Timing.bound)
            self.timing.kernel = True
        self.sock = sock

    def _open_tcp(self) -> socket.socket:
        """A TCP connection to the first of the pinned addresses, or else of the host's
        addresses, that answers: each attempt within the connect timeout and what is left of
        the deadline (a name with many addresses that do not answer cannot outlast it)."""
        error: OSError | None = None
        for address in self._addresses or self._host_addresses():
            try:
                limit = self.timing.left(self.timing.connect_timeout)
            except DeadlinePassed as exc:
                raise ConnectTimeout(str(exc)) from exc
            try:
                sock = self._open_socket((address, self.port), limit)
            except OSError as exc:      # a timeout too: the next address may answer
                error = exc
                continue
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass        # not every socket family has it
            return sock
        if error is None:       # a resolver that answered no address at all
            raise FetchError(f"cannot resolve host {self.host}")
        if isinstance(error, TimeoutError):
            raise ConnectTimeout(str(error)) from error
        raise error

    def _host_addresses(self) -> Sequence[str]:
        """The host itself when it is an IP address, else what it resolves to. UnicodeError
        for a name IDNA cannot encode (an empty or too long label): an invalid URL."""
        try:
            return (str(ipaddress.ip_address(self.host)),)
        except ValueError:
            self.host.encode("idna")
            return self._resolve(self.host, self.port)


class _TLSConnection(_Connection):
    """The same over TLS: the server name (SNI, certificate check) is the host's, whatever
    address the connection went to."""

    default_port = 443      # the Host header leaves out the port when it is this one

    def __init__(self, host: str, port: int, timing: Timing, addresses: tuple[str, ...],
                 open_socket: Connector, context: ssl.SSLContext,
                 resolve: Resolver = resolve_host) -> None:
        super().__init__(host, port, timing, addresses, open_socket, resolve)
        self._context = context

    def connect(self) -> None:
        sock = self._open_tcp()
        try:
            # The handshake as a whole is bounded by the socket's timeout (CPython's ssl
            # module counts it down across the handshake's reads and writes).
            sock.settimeout(self.timing.left(self.timing.connect_timeout))
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except TimeoutError as exc:
            sock.close()
            raise ConnectTimeout(str(exc)) from exc
        except BaseException:
            sock.close()
            raise


class DirectReply:
    """A response whose body has not been read yet, on a connection of ours."""

    def __init__(self, owner: Connections, key: _Key, conn: _Connection,
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

    def limit_reads(self, seconds: float) -> None:
        """Nothing to do: each receive is bounded by the request's timing already."""

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
                 clock: Callable[[], float] = time.monotonic,
                 open_socket: Connector = socket.create_connection,
                 resolve: Resolver = resolve_host) -> None:
        self._context = context
        self._per_host = per_host
        self._hosts = hosts
        self._max_idle = max_idle
        self._clock = clock
        self._open_socket = open_socket
        self._resolve = resolve
        self._idle: OrderedDict[_Key, list[_Idle]] = OrderedDict()
        self._swept = clock()
        self._lock = threading.Lock()

    def get(self, scheme: str, host: str, port: int, path: str, headers: Mapping[str, str],
            *, connect_timeout: float, read_timeout: float,
            deadline: float | None = None, addresses: Sequence[str] = ()) -> DirectReply:
        """Send ``GET path`` and read the status and headers, within the timeouts and by
        ``deadline`` (a value of the clock, time.monotonic() by default), a retry on a fresh
        connection included. The reply's body is read under the same deadline.

        ``addresses``: connect only to these (checked) addresses, in order, not to what the
        host name resolves to now; the Host header and TLS server name are still ``host``.

        Raises ConnectTimeout, TimeoutError (reading, or the deadline passed: then
        DeadlinePassed), OSError, ssl.SSLError or http.client.HTTPException; FetchError for
        a header value http.client refuses.
        """
        key = (scheme, host, port, tuple(addresses))
        while True:
            conn = self._take(key)
            reused = conn is not None
            if conn is None:
                conn = self._new(key)
            timing = conn.timing
            timing.deadline = float("inf") if deadline is None else deadline
            timing.connect_timeout = connect_timeout
            timing.read_timeout = read_timeout
            if not reused:
                try:
                    conn.connect()
                except BaseException:     # ssl's certificate errors are ValueErrors too
                    conn.close()
                    raise
            try:
                sock: socket.socket = conn.sock
                timing.bound(sock, read_timeout, sending=True)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
            except BlockingIOError as exc:   # a blocking socket's send timed out (EAGAIN)
                conn.close()
                raise TimeoutError("timed out") from exc
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

    def _new(self, key: _Key) -> _Connection:
        scheme, host, port, addresses = key
        timing = Timing(self._clock)
        if scheme == "https":
            return _TLSConnection(host, port, timing, addresses, self._open_socket,
                                  self._context, self._resolve)
        return _Connection(host, port, timing, addresses, self._open_socket, self._resolve)

    def _take(self, key: _Key) -> _Connection | None:
        """An idle connection to ``key`` that the server has not closed, if any."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                conn, since = idle.pop()
            sock = conn.sock
            # Readable while idle: the server closed it, or sent garbage after the last
            # response (garbage that came with it is gone with the response's read buffer).
            # Not reusable.
            if sock is not None and self._clock() - since < self._max_idle \
                    and not wait_for_read(sock, timeout=0.0):
                return conn
            conn.close()

    def put(self, key: _Key, conn: _Connection) -> None:
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
