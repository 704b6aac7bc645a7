"""The total fetch deadline holds whatever a server sends, and however slowly: a status
line, headers, chunk-size lines or a TLS handshake trickled a byte at a time are cut off
at ``fetch_deadline`` with an honest message, and the other sources keep their turns.

The servers are raw sockets on loopback that count what they managed to send: a fetch
that outlasted its deadline would have let them send far more."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.app import build_app
from monitor.config import MonitorSettings, load_config_data
from monitor.errors import FetchError
from monitor.fetch import HttpFetcher
from monitor.scheduler import poll_sources
from tests.loopback import LoopbackHTTPServer, Response, TricklingServer

# TricklingServer sends a byte every 0.1 s, 300 at most (30 s): far past any deadline here.
ALLOWED = 100           # bytes a 1 s deadline could let through, with a wide margin (10 s)

FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
        b"<item><title>Harbour reopens after the storm</title>"
        b"<link>https://desk.example/harbour</link><guid>h1</guid></item></channel></rss>")


@pytest.fixture
def trickling() -> Iterator[list[TricklingServer]]:
    servers: list[TricklingServer] = []
    yield servers
    for server in servers:
        server.close()


def deadline_fetcher() -> HttpFetcher:
    # Generous per-read and connect timeouts: only the total deadline can stop these.
    return HttpFetcher(MonitorSettings(fetch_deadline="1s", read_timeout="30s",
                                       connect_timeout="30s", allow_private_networks=True))


@pytest.mark.parametrize("head, drip", [
    (b"", b"H"),                                                   # the status line
    (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a"),                        # one header's value
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", b"X-A: b\r\n"),  # header after header
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"0"),   # a chunk-size line
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", b"0"),
], ids=["status-line", "header-value", "many-headers", "chunk-size", "second-chunk-size"])
def test_the_deadline_cuts_off_a_trickle_in_any_part_of_the_answer(
        trickling, head: bytes, drip: bytes) -> None:
    server = TricklingServer(head, drip)
    trickling.append(server)
    with deadline_fetcher() as fetcher, pytest.raises(FetchError) as info:
        fetcher.fetch(server.url())
    assert str(info.value) == "timed out after 1s (total deadline)"
    assert server.trickled < ALLOWED


def test_the_deadline_bounds_a_tls_handshake_that_trickles(trickling) -> None:
    # A handshake record announced 16 KiB long, whose bytes then come one at a time.
    server = TricklingServer(b"\x16\x03\x03\x40\x00", b"\x02", read_request=False)
    trickling.append(server)
    with deadline_fetcher() as fetcher, pytest.raises(FetchError) as info:
        fetcher.fetch(server.url("https"))
    assert str(info.value) == "timed out after 1s (total deadline)"
    assert server.trickled < ALLOWED


def test_healthy_sources_are_polled_while_trickling_hosts_hold_every_slot(
        tmp_path: Path, trickling) -> None:
    """Two trickling hosts and max_concurrency = 2: each is cut off at its deadline and
    recorded as an error, and the healthy source is polled in the same run."""
    slow = [TricklingServer(b"HTTP/1.1 200 OK\r\nX-Slow: ") for _ in range(2)]
    trickling.extend(slow)
    with LoopbackHTTPServer() as healthy:
        healthy.route("/feed.xml", Response(body=FEED))
        sources = [{"name": f"slow-{n}", "url": server.url()} for n, server in enumerate(slow)]
        sources.append({"name": "healthy", "url": healthy.url("/feed.xml")})
        config = load_config_data({
            "monitor": {"database": str(tmp_path / "m.db"), "max_concurrency": 2,
                        "fetch_deadline": "1s", "read_timeout": "30s",
                        "min_host_interval": "0s"},
            "topics": [{"name": "t", "event": "recognition"}], "sources": sources})
        app = build_app(config)
        try:
            outcomes = {o.source: o for o in poll_sources(app, app.config.sources)}
            assert outcomes["healthy"].status == "ok"
            assert len(healthy.requests_to("/feed.xml")) == 1
            for n, server in enumerate(slow):
                state = app.store.source_state(f"slow-{n}")
                assert state.last_error == "FetchError: timed out after 1s (total deadline)"
                assert server.trickled < ALLOWED
        finally:
            app.close()


@pytest.mark.parametrize("head, drip", [
    (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"0"),
], ids=["header-value", "chunk-size"])
def test_the_deadline_holds_through_a_proxy(trickling, monkeypatch, head: bytes,
                                            drip: bytes) -> None:
    # The proxy (or the origin behind it) trickles: urllib3 carries proxied requests.
    server = TricklingServer(head, drip)
    trickling.append(server)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    with deadline_fetcher() as fetcher, pytest.raises(FetchError) as info:
        fetcher.fetch("http://feeds.example.org/feed.xml")
    assert str(info.value) == "timed out after 1s (total deadline)"
    assert server.trickled < ALLOWED


def test_the_deadline_bounds_a_connect_to_a_name_whose_addresses_do_not_answer() -> None:
    # A listener whose accept queue is full: further SYNs are dropped, a connect hangs.
    silent = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = silent.getsockname()[1]
    held = [socket.create_connection(("127.0.0.1", port))]
    given: list[float] = []

    def resolve(name: str, port: int) -> list[str]:
        assert name == "wire.test"
        return ["203.0.113.1", "203.0.113.2", "203.0.113.3"]   # none of them answers

    def network(address: tuple[str, int], timeout: float) -> socket.socket:
        # The machine's network, as socket.create_connection: a name is resolved, and each
        # of its addresses tried in turn, each with the whole timeout it was given.
        host, _ = address
        error: OSError = OSError("no address")
        for _ in resolve(host, port) if host == "wire.test" else [host]:
            given.append(timeout)
            try:
                return socket.create_connection(("127.0.0.1", port), timeout)
            except OSError as exc:
                error = exc
        raise error

    settings = MonitorSettings(fetch_deadline="1s", connect_timeout="30s",
                               read_timeout="30s", allow_private_networks=True)
    try:
        with HttpFetcher(settings, resolve=resolve, open_socket=network) as fetcher, \
                pytest.raises(FetchError) as info:
            fetcher.fetch(f"http://wire.test:{port}/feed")
    finally:
        for sock in [*held, silent]:
            sock.close()
    assert str(info.value) == "timed out after 1s (total deadline)"
    assert sum(given) <= 1.0         # the attempts together had the deadline, not each


def test_an_address_that_does_not_answer_gives_way_to_the_next_one() -> None:
    # A host with two addresses, the first silent (as an IPv6 address on a network without
    # IPv6 route can be): the second is tried once the connect timeout passed for the first.
    silent = socket.create_server(("127.0.0.1", 0), backlog=0)
    held = [socket.create_connection(silent.getsockname())]
    tried: list[str] = []

    with LoopbackHTTPServer() as http:
        http.route("/feed", Response(body=FEED, headers={"Content-Type": "application/rss+xml"}))

        def resolve(name: str, port: int) -> list[str]:
            return ["203.0.113.1", "203.0.113.2"]

        def network(address: tuple[str, int], timeout: float) -> socket.socket:
            tried.append(address[0])
            target = silent.getsockname() if address[0] == "203.0.113.1" \
                else ("127.0.0.1", http.port)
            return socket.create_connection(target, timeout)

        settings = MonitorSettings(fetch_deadline="20s", connect_timeout="1s",
                                   read_timeout="5s", allow_private_networks=True)
        try:
            with HttpFetcher(settings, resolve=resolve, open_socket=network) as fetcher:
                result = fetcher.fetch(f"http://wire.test:{http.port}/feed")
        finally:
            for sock in [*held, silent]:
                sock.close()
    assert result.content == FEED
    assert tried == ["203.0.113.1", "203.0.113.2"]
