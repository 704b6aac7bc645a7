"""Kept-alive connections of direct requests (monitor/fetch/connections.py), against raw
loopback servers that misbehave in the ways real servers do: closing an idle connection,
closing one just as a request arrives, closing after one answer."""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from monitor.config import MonitorSettings
from monitor.errors import FetchError
from monitor.fetch import HttpFetcher
from monitor.fetch import connections as connections_module
from monitor.fetch.connections import Connections
from monitor.fetch.transport import tls_context
from tests.fakes import MonotonicClock
from tests.loopback import RawTCPServer, wait_for

OK = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n"
      b"ETag: \"v1\"\r\n\r\nfine")

# What a script answers to the n-th request (from 0) on the c-th connection (from 0):
# bytes to send, then keep the connection; (bytes, True) to send then close; None to close
# without answering.
Script = Callable[[int, int], "bytes | tuple[bytes, bool] | None"]


class RawServer(RawTCPServer):
    """A loopback TCP server that reads HTTP requests and answers as a script says."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.ended = 0                                # connections the client closed
        self.requests: list[tuple[int, bytes]] = []   # (connection, request head)
        super().__init__()

    def url(self, path: str = "/feed") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, conn: socket.socket, index: int) -> None:
        buffer = b""
        served = 0
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        return
                    if not data:
                        with self.lock:
                            self.ended += 1
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                with self.lock:
                    self.requests.append((index, head))
                answer = self.script(index, served)
                served += 1
                if answer is None:
                    return
                close = False
                if isinstance(answer, tuple):
                    answer, close = answer
                conn.sendall(answer)
                if close:
                    return


@pytest.fixture
def raw_server() -> Iterator[Callable[[Script], RawServer]]:
    servers: list[RawServer] = []

    def make(script: Script) -> RawServer:
        servers.append(RawServer(script))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    with HttpFetcher(MonitorSettings(allow_private_networks=True, read_timeout="5s",
                                     fetch_deadline="10s")) as fetcher:
        yield fetcher


def test_a_connection_the_server_closed_while_idle_is_not_used(raw_server, fetcher) -> None:
    server = raw_server(lambda connection, n: (OK, True))    # answers, then hangs up
    assert fetcher.fetch(server.url()).content == b"fine"
    wait_for(lambda: server.connections == 1)
    assert fetcher.fetch(server.url()).content == b"fine"
    assert [c for c, _ in server.requests] == [0, 1]


def test_a_kept_connection_closed_as_the_request_arrives_is_retried_once(
        raw_server, fetcher) -> None:
    # The first connection answers once, then closes on reading the next request: the
    # race a server's keep-alive timeout makes. The GET is sent again on a new connection.
    server = raw_server(lambda connection, n: OK if n == 0 else None)
    assert fetcher.fetch(server.url()).content == b"fine"
    assert fetcher.fetch(server.url()).content == b"fine"
    assert [c for c, _ in server.requests] == [0, 0, 1]


def test_a_new_connection_closed_without_an_answer_is_an_error_not_a_retry(
        raw_server, fetcher) -> None:
    server = raw_server(lambda connection, n: None)
    with pytest.raises(FetchError, match="connection closed without a response"):
        fetcher.fetch(server.url())
    assert len(server.requests) == 1


def test_connection_close_answers_are_read_whole_and_not_kept(raw_server, fetcher) -> None:
    body = b"x" * 100_000
    answer = (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100000\r\n\r\n"
              + body)
    server = raw_server(lambda connection, n: (answer, True))
    assert fetcher.fetch(server.url()).content == body
    assert fetcher.fetch(server.url()).content == body
    assert server.connections == 2


def test_a_body_cut_short_by_a_connection_close_is_an_error(raw_server, fetcher) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"
    server = raw_server(lambda connection, n: (answer, True))
    with pytest.raises(FetchError, match="closed before the body was complete"):
        fetcher.fetch(server.url())


def test_idle_connections_of_the_least_recently_used_host_are_closed(raw_server) -> None:
    first = raw_server(lambda connection, n: OK)
    second = raw_server(lambda connection, n: OK)
    connections = Connections(tls_context(), per_host=2, hosts=1)
    try:
        for server in (first, second, first):
            reply = connections.get("http", "127.0.0.1", server.port, "/", {},
                                    connect_timeout=5, read_timeout=5)
            assert reply.read_all() == b"fine"
            reply.release(complete=True)
    finally:
        connections.clear()
    assert first.connections == 2       # its idle connection was closed for the second
    assert second.connections == 1


def test_an_incomplete_reply_closes_its_connection(raw_server) -> None:
    server = raw_server(lambda connection, n: OK)
    connections = Connections(tls_context(), per_host=2, hosts=8)
    try:
        for _ in range(2):
            reply = connections.get("http", "127.0.0.1", server.port, "/", {},
                                    connect_timeout=5, read_timeout=5)
            reply.release(complete=False)    # body not read: the connection is unusable
    finally:
        connections.clear()
    assert server.connections == 2


def _get(connections: Connections, server: RawServer) -> None:
    reply = connections.get("http", "127.0.0.1", server.port, "/", {},
                            connect_timeout=5, read_timeout=5)
    assert reply.read_all() == b"fine"
    reply.release(complete=True)


def test_a_connection_idle_too_long_is_not_reused(raw_server) -> None:
    server = raw_server(lambda connection, n: OK)
    clock = MonotonicClock(1000.0)
    connections = Connections(tls_context(), per_host=2, hosts=8, max_idle=60, clock=clock)
    try:
        _get(connections, server)
        clock.now += 59
        _get(connections, server)             # reused
        assert server.connections == 1
        clock.now += 60
        _get(connections, server)             # idle a minute: a new connection
        assert server.connections == 2
        wait_for(lambda: server.ended == 1)   # and the old one closed
    finally:
        connections.clear()


def test_idle_connections_of_hosts_no_longer_polled_are_closed(raw_server) -> None:
    first = raw_server(lambda connection, n: OK)
    second = raw_server(lambda connection, n: OK)
    clock = MonotonicClock(1000.0)
    connections = Connections(tls_context(), per_host=2, hosts=8, max_idle=60, clock=clock)
    try:
        _get(connections, first)
        clock.now += 61
        _get(connections, second)             # its release sweeps the expired ones
        wait_for(lambda: first.ended == 1)
        assert second.ended == 0
    finally:
        connections.clear()


def test_a_retry_on_a_fresh_connection_keeps_to_the_deadline(raw_server) -> None:
    clock = MonotonicClock(1000.0)

    def script(connection: int, n: int) -> bytes | None:
        if n == 0:
            return OK
        clock.now += 10              # the kept connection failed late: no time is left
        return None

    server = raw_server(script)
    connections = Connections(tls_context(), per_host=2, hosts=8, clock=clock)
    try:
        _get(connections, server)
        with pytest.raises(TimeoutError):
            connections.get("http", "127.0.0.1", server.port, "/", {}, connect_timeout=5,
                            read_timeout=5, deadline=clock.now + 5)
        assert server.connections == 1      # no second connection after the deadline
    finally:
        connections.clear()


@pytest.mark.parametrize("path, sent", [
    ("/nachrichten/über-uns/feed.xml", "/nachrichten/%C3%BCber-uns/feed.xml"),
    ("/search?q=Zürich&lang=de", "/search?q=Z%C3%BCrich&lang=de"),
    ("/feed?q=a b", "/feed?q=a%20b"),
])
def test_a_source_url_with_characters_a_request_line_cannot_carry_is_encoded(
        raw_server, fetcher, path: str, sent: str) -> None:
    server = raw_server(lambda connection, n: OK)
    assert fetcher.fetch(f"http://127.0.0.1:{server.port}{path}").content == b"fine"
    assert server.requests[0][1].split(b"\r\n")[0] == f"GET {sent} HTTP/1.1".encode()


def test_a_host_name_idna_cannot_encode_is_an_invalid_url(fetcher) -> None:
    with pytest.raises(FetchError, match=r"^invalid URL 'http://news\.\.example/feed'$"):
        fetcher.fetch("http://news..example/feed")


def test_a_content_length_of_other_digits_is_no_length(raw_server, fetcher) -> None:
    # "²" is a digit to str.isdigit() but not to int(): the body is read to the close.
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\nConnection: close\r\n\r\nfine"
    server = raw_server(lambda connection, n: (answer, True))
    assert fetcher.fetch(server.url()).content == b"fine"


class SilentServer(RawTCPServer):
    """Accepts, then neither answers nor (``reads=False``) reads the request; each
    connection is closed after ``hold`` seconds, so a client that waits for ever fails
    the test instead of hanging it."""

    def __init__(self, reads: bool, hold: float = 10.0) -> None:
        self.reads = reads
        self.hold = hold
        self.closed = threading.Event()
        super().__init__()
        # Small buffers: a request the server does not read fills them soon.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    def serve(self, conn: socket.socket, index: int) -> None:
        with conn:
            if self.reads:
                conn.recv(65536)
            self.closed.wait(self.hold)

    def close(self) -> None:
        self.closed.set()
        super().close()


def _small_send_buffer(address: tuple[str, int], timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sock.settimeout(timeout)
    sock.connect(address)
    return sock


# A plain connection's reads and writes are bounded by the kernel on 64-bit Linux (a
# blocking socket: see KERNEL_TIMEOUTS), elsewhere by a Python timeout on the socket: both
# ways must time out alike.
LINUX_TIMEVAL = sys.platform.startswith("linux") and struct.calcsize("@ll") == 16
timeouts_by = pytest.mark.parametrize("kernel", [
    pytest.param(True, marks=pytest.mark.skipif(
        not LINUX_TIMEVAL, reason="kernel timeouts: 64-bit Linux only")),
    False,
], ids=["kernel", "python"])


@timeouts_by
def test_an_answer_that_never_comes_is_a_read_timeout(monkeypatch, kernel: bool) -> None:
    monkeypatch.setattr(connections_module, "KERNEL_TIMEOUTS", kernel)
    server = SilentServer(reads=True)
    connections = Connections(tls_context(), per_host=2, hosts=8)
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            connections.get("http", "127.0.0.1", server.port, "/", {}, connect_timeout=5,
                            read_timeout=0.3, deadline=time.monotonic() + 30)
        assert time.monotonic() - started < server.hold / 2
        assert not isinstance(info.value, connections_module.DeadlinePassed)
    finally:
        connections.clear()
        server.close()


@timeouts_by
def test_a_request_the_server_does_not_take_in_is_a_timeout(monkeypatch, kernel: bool) -> None:
    monkeypatch.setattr(connections_module, "KERNEL_TIMEOUTS", kernel)
    server = SilentServer(reads=False)
    connections = Connections(tls_context(), per_host=2, hosts=8,
                              open_socket=_small_send_buffer)
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            # Far more than both sockets' buffers hold: the send waits for room.
            connections.get("http", "127.0.0.1", server.port, "/", {"X-Pad": "a" * 4_000_000},
                            connect_timeout=5, read_timeout=0.3,
                            deadline=time.monotonic() + 30)
        assert time.monotonic() - started < server.hold / 2
    finally:
        connections.clear()
        server.close()


@timeouts_by
def test_a_kept_connection_is_reused_under_either_kind_of_timeout(
        monkeypatch, raw_server, kernel: bool) -> None:
    monkeypatch.setattr(connections_module, "KERNEL_TIMEOUTS", kernel)
    server = raw_server(lambda connection, n: OK)
    connections = Connections(tls_context(), per_host=2, hosts=8)
    try:
        for _ in range(3):
            reply = connections.get("http", "127.0.0.1", server.port, "/", {},
                                    connect_timeout=5, read_timeout=4)
            # The way the wait is bounded: the kernel's receive timeout on a blocking
            # socket, or a Python timeout (and no kernel one).
            sock = reply.sock
            if LINUX_TIMEVAL:
                seconds, micro = struct.unpack(
                    "@ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
                assert seconds + micro / 1e6 == (4.0 if kernel else 0.0)
            assert sock.gettimeout() == (None if kernel else 4)
            assert reply.read_all() == b"fine"
            reply.release(complete=True)
        assert [c for c, _ in server.requests] == [0, 0, 0]
    finally:
        connections.clear()
