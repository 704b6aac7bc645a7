"""HttpFetcher against a real HTTP server on 127.0.0.1, and the address-safety checks."""

from __future__ import annotations

import base64
import gzip
import importlib.util
import shutil
import socket
import ssl
import subprocess
import threading
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3

from monitor.config import MonitorSettings
from monitor.errors import ConfigError, FetchError
from monitor.fetch import (
    HttpFetcher,
    check_url_allowed,
    is_public_address,
    is_url_allowed,
    parse_retry_after,
)
from monitor.fetch.transport import no_proxy_matches, proxy_for, proxy_settings
from tests.loopback import LoopbackHTTPServer, RecordedRequest, Response

FEED = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"
NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)


def make_settings(**overrides: Any) -> MonitorSettings:
    values: dict[str, Any] = {"fetch_deadline": "5s", "connect_timeout": "2s",
                              "read_timeout": "3s", "user_agent": "news-monitor-test/1.0"}
    values.update(overrides)
    return MonitorSettings(**values)


@pytest.fixture
def server(fresh_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    return fresh_server


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    with HttpFetcher(make_settings(), now=lambda: NOW) as f:
        yield f


def error_of(fetcher: HttpFetcher, url: str, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetcher.fetch(url, **kwargs)
    return info.value


# -- plain responses and headers -----------------------------------------------------------

def test_ok_returns_bytes_validators_and_caching_headers(server, fetcher) -> None:
    server.route("/feed.xml", Response(body=FEED, headers={
        "Content-Type": "application/rss+xml", "ETag": '"v1"',
        "Last-Modified": "Thu, 03 Jul 2025 10:00:00 GMT", "Cache-Control": "max-age=600",
        "Expires": "Thu, 03 Jul 2025 12:10:00 GMT", "Retry-After": "30"}))

    result = fetcher.fetch(server.url("/feed.xml"))

    assert result.status == 200
    assert result.content == FEED
    assert not result.not_modified
    assert result.etag == '"v1"'
    assert result.last_modified == "Thu, 03 Jul 2025 10:00:00 GMT"
    assert result.headers["cache-control"] == "max-age=600"
    assert result.headers["expires"] == "Thu, 03 Jul 2025 12:10:00 GMT"
    assert result.headers["content-type"] == "application/rss+xml"
    assert result.headers["retry-after"] == "30"
    assert result.permanent_redirect is None
    assert result.url == server.url("/feed.xml")
    request = server.requests_to("/feed.xml")[0]
    assert request.headers["User-Agent"] == "news-monitor-test/1.0"
    assert "gzip" in request.headers["Accept-Encoding"]
    assert "If-None-Match" not in request.headers


def test_conditional_get_sends_validators_and_304_has_no_content(server, fetcher) -> None:
    def conditional(request: RecordedRequest) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(304)
        return Response(body=FEED, headers={"ETag": '"v1"'})

    server.route("/feed.xml", conditional)
    url = server.url("/feed.xml")

    first = fetcher.fetch(url)
    second = fetcher.fetch(url, etag=first.etag, last_modified="Thu, 03 Jul 2025 10:00:00 GMT")

    assert first.content == FEED
    assert second.status == 304
    assert second.not_modified and second.content is None
    assert second.etag == '"v1"'        # kept: the 304 carried none
    assert second.last_modified == "Thu, 03 Jul 2025 10:00:00 GMT"
    sent = server.requests_to("/feed.xml")[1].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Thu, 03 Jul 2025 10:00:00 GMT"


def test_304_with_new_validators_returns_them(server, fetcher) -> None:
    server.route("/f", Response(304, headers={"ETag": '"v2"'}))
    result = fetcher.fetch(server.url("/f"), etag='"v1"')
    assert result.not_modified
    assert result.etag == '"v2"'


@pytest.mark.parametrize("encoding, encode", [
    ("gzip", gzip.compress),
    ("x-gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda data: zlib.compress(data)[2:-4]),   # raw deflate, no zlib header
])
def test_compressed_body_is_decoded(server, fetcher, encoding, encode) -> None:
    body = FEED * 200
    server.route("/z", Response(body=encode(body), headers={"Content-Encoding": encoding}))
    assert fetcher.fetch(server.url("/z")).content == body


def test_gzip_with_two_members_is_decoded_whole(server, fetcher) -> None:
    server.route("/z", Response(body=gzip.compress(b"first ") + gzip.compress(b"second"),
                                headers={"Content-Encoding": "gzip"}))
    assert fetcher.fetch(server.url("/z")).content == b"first second"


def test_truncated_gzip_is_an_error_not_half_a_feed(server, fetcher) -> None:
    whole = gzip.compress(b"<rss>" + b"<item>x</item>" * 2000 + b"</rss>")
    server.route("/z", Response(body=whole[: len(whole) // 2],
                                headers={"Content-Encoding": "gzip"}))
    assert "cut short" in str(error_of(fetcher, server.url("/z")))


def test_utf8_location_is_followed(server, fetcher) -> None:
    # The server sends the UTF-8 bytes of "/café/rss" (the loopback server writes headers
    # as Latin-1, so these two characters become the bytes C3 A9).
    server.route("/old", Response(302, headers={"Location": "/caf\u00c3\u00a9/rss"}))
    server.route("/caf%C3%A9/rss", Response(body=b"<rss/>"))
    result = fetcher.fetch(server.url("/old"))
    assert result.content == b"<rss/>" and result.url.endswith("/caf%C3%A9/rss")


def test_corrupt_gzip_is_an_error(server, fetcher) -> None:
    server.route("/z", Response(body=b"definitely not gzip", headers={"Content-Encoding": "gzip"}))
    assert "invalid gzip body" in str(error_of(fetcher, server.url("/z")))


def test_unsupported_content_encoding_is_an_error(server, fetcher) -> None:
    server.route("/z", Response(body=b"\x00\x01", headers={"Content-Encoding": "br"}))
    assert str(error_of(fetcher, server.url("/z"))) == "unsupported Content-Encoding br"


# -- size caps -----------------------------------------------------------------------------

def test_body_cap_refuses_content_length_up_front(server) -> None:
    server.route("/big", Response(body=b"x" * 5000))
    with HttpFetcher(make_settings(max_body_size=4096)) as fetcher:
        assert str(error_of(fetcher, server.url("/big"))) == "body larger than 4096 bytes"
        server.route("/small", Response(body=b"x" * 4096))
        assert len(fetcher.fetch(server.url("/small")).content or b"") == 4096


class _RawServer:
    """One-shot server that answers with a fixed byte string, then closes (no framing)."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/stream"

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(self.payload)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def test_body_cap_without_content_length_while_streaming() -> None:
    raw = _RawServer(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"y" * 200_000)
    try:
        with HttpFetcher(make_settings(max_body_size=65536)) as fetcher:
            assert str(error_of(fetcher, raw.url)) == "body larger than 65536 bytes"
    finally:
        raw.close()


def test_body_without_content_length_is_read_to_the_end() -> None:
    raw = _RawServer(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"z" * 30_000)
    try:
        with HttpFetcher(make_settings()) as fetcher:
            assert fetcher.fetch(raw.url).content == b"z" * 30_000
    finally:
        raw.close()


def test_gzip_bomb_is_capped_after_decompression(server) -> None:
    bomb = gzip.compress(b"\0" * (16 * 1024 * 1024))   # 16 MiB of zeros, ~16 KiB on the wire
    assert len(bomb) < 1024 * 1024
    server.route("/bomb", Response(body=bomb, headers={"Content-Encoding": "gzip"}))
    with HttpFetcher(make_settings(max_body_size=1024 * 1024)) as fetcher:
        assert str(error_of(fetcher, server.url("/bomb"))) == "body larger than 1048576 bytes"


# -- time limits ---------------------------------------------------------------------------

def test_total_deadline_stops_a_trickling_server(server) -> None:
    # 40 bytes, one every 0.1 s: each read is quick, the whole takes 4 s > the 1 s deadline.
    server.route("/slow", Response(body=b"t" * 40, trickle=0.1))
    with HttpFetcher(make_settings(fetch_deadline="1s", read_timeout="30s")) as fetcher:
        error = error_of(fetcher, server.url("/slow"))
    assert str(error) == "timed out after 1s (total deadline)"
    assert error.status is None


def test_total_deadline_covers_slow_headers(server) -> None:
    server.route("/late", Response(body=b"late", delay=3))
    with HttpFetcher(make_settings(fetch_deadline="1s", read_timeout="30s")) as fetcher:
        assert "total deadline" in str(error_of(fetcher, server.url("/late")))


def test_read_timeout_when_shorter_than_deadline(server) -> None:
    server.route("/late", Response(body=b"late", delay=3))
    with HttpFetcher(make_settings(fetch_deadline="20s", read_timeout="1s")) as fetcher:
        assert str(error_of(fetcher, server.url("/late"))) == "read timed out after 1s"


def test_connection_refused_is_a_short_message(fetcher) -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    assert str(error_of(fetcher, f"http://127.0.0.1:{port}/")) == "connection refused"


# -- HTTP errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("status, message", [
    (404, "HTTP 404 Not Found"),
    (500, "HTTP 500 Internal Server Error"),
    (403, "HTTP 403 Forbidden"),
])
def test_error_statuses_raise_with_status(server, fetcher, status, message) -> None:
    server.route("/e", Response(status, b"nope"))
    error = error_of(fetcher, server.url("/e"))
    assert str(error) == message
    assert error.status == status
    assert error.gone is False
    assert error.retry_after is None


def test_410_marks_gone(server, fetcher) -> None:
    server.route("/gone", Response(410))
    error = error_of(fetcher, server.url("/gone"))
    assert error.gone is True
    assert error.status == 410
    assert str(error) == "HTTP 410 Gone"


def test_retry_after_in_seconds(server, fetcher) -> None:
    server.route("/busy", Response(503, headers={"Retry-After": "120"}))
    error = error_of(fetcher, server.url("/busy"))
    assert error.status == 503
    assert error.retry_after == 120.0


def test_retry_after_as_http_date(server, fetcher) -> None:
    when = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    server.route("/slow-down", Response(429, headers={"Retry-After": when}))
    error = error_of(fetcher, server.url("/slow-down"))
    assert error.status == 429
    assert error.retry_after == 90.0


@pytest.mark.parametrize("value, expected", [
    ("0", 0.0),
    (" 45 ", 45.0),
    ("Thu, 03 Jul 2025 12:05:00 GMT", 300.0),
    ("Thu, 03 Jul 2025 11:00:00 GMT", 0.0),       # in the past
    ("soon", None),
    ("", None),
    (None, None),
    ("-5", None),
])
def test_parse_retry_after(value, expected) -> None:
    assert parse_retry_after(value, NOW) == expected


# -- redirects -----------------------------------------------------------------------------

def test_permanent_chain_reports_the_final_url(server, fetcher) -> None:
    server.route("/old", Response(301, headers={"Location": "/mid"}))
    server.route("/mid", Response(308, headers={"Location": "feeds/new.xml"}))  # relative
    server.route("/feeds/new.xml", Response(body=FEED))

    result = fetcher.fetch(server.url("/old"))

    assert result.content == FEED
    assert result.url == server.url("/feeds/new.xml")
    assert result.permanent_redirect == server.url("/feeds/new.xml")


@pytest.mark.parametrize("temporary", [302, 303, 307])
def test_a_temporary_hop_makes_the_chain_not_permanent(server, fetcher, temporary) -> None:
    server.route("/old", Response(301, headers={"Location": "/tmp"}))
    server.route("/tmp", Response(temporary, headers={"Location": "/feed"}))
    server.route("/feed", Response(body=FEED))
    result = fetcher.fetch(server.url("/old"))
    assert result.content == FEED
    assert result.url == server.url("/feed")
    assert result.permanent_redirect is None


def test_redirect_limit(server) -> None:
    for i in range(4):
        server.route(f"/r{i}", Response(302, headers={"Location": f"/r{i + 1}"}))
    server.route("/r4", Response(body=FEED))
    with HttpFetcher(make_settings(max_redirects=4)) as fetcher:
        assert fetcher.fetch(server.url("/r0")).content == FEED
    with HttpFetcher(make_settings(max_redirects=3)) as fetcher:
        error = error_of(fetcher, server.url("/r0"))
    assert str(error) == "more than 3 redirects"


def test_redirect_loop_stops(server, fetcher) -> None:
    server.route("/loop", Response(302, headers={"Location": "/loop"}))
    assert str(error_of(fetcher, server.url("/loop"))) == "more than 5 redirects"
    assert len(server.requests_to("/loop")) == 6


def test_redirect_without_location(server, fetcher) -> None:
    server.route("/r", Response(302))
    error = error_of(fetcher, server.url("/r"))
    assert str(error) == "HTTP 302 Found without Location"
    assert error.status == 302


def test_redirect_to_other_scheme_refused(server, fetcher) -> None:
    server.route("/r", Response(302, headers={"Location": "file:///etc/passwd"}))
    assert "unsupported scheme file" in str(error_of(fetcher, server.url("/r")))


# -- address safety ------------------------------------------------------------------------

def fake_resolver(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise FetchError(f"cannot resolve host {host}")
        return table[host]
    return resolve


def test_redirect_to_private_address_refused(server) -> None:
    server.route("/go", Response(302, headers={"Location": "http://intranet.test/admin"}))
    resolve = fake_resolver({"intranet.test": ["10.0.0.1"]})
    with HttpFetcher(make_settings(), resolve=resolve) as fetcher:
        error = error_of(fetcher, server.url("/go"))
    assert str(error) == "redirect to private address 10.0.0.1 refused"


def test_redirect_to_host_with_any_private_address_refused(server) -> None:
    server.route("/go", Response(302, headers={"Location": "http://mixed.test/"}))
    resolve = fake_resolver({"mixed.test": ["93.184.216.34", "fd00::1"]})
    with HttpFetcher(make_settings(), resolve=resolve) as fetcher:
        assert str(error_of(fetcher, server.url("/go"))) == \
            "redirect to private address fd00::1 refused"


def test_redirect_to_loopback_name_refused_unless_allowed(server) -> None:
    # The configured first hop is 127.0.0.1 (allowed: the operator chose it); the redirect
    # names another host, "localhost", which resolves to loopback.
    server.route("/go", Response(302, headers={"Location": f"http://localhost:{server.port}/f"}))
    server.route("/f", Response(body=FEED))
    with HttpFetcher(make_settings()) as fetcher:
        assert "redirect to private address" in str(error_of(fetcher, server.url("/go")))
    assert server.requests_to("/f") == []
    with HttpFetcher(make_settings(allow_private_networks=True)) as fetcher:
        assert fetcher.fetch(server.url("/go")).content == FEED


PUBLIC = "93.184.216.34"      # stands for a public address: never contacted by these tests


def rebinding_resolver(host: str, answers: list[list[str]]) -> Callable[[str, int], list[str]]:
    """Answers for ``host`` in turn (the last one again and again), as a name whose DNS
    records change between two look-ups would."""
    asked: list[str] = []

    def resolve(name: str, port: int) -> list[str]:
        if name != host:
            raise FetchError(f"cannot resolve host {name}")
        asked.append(name)
        return answers[min(len(asked), len(answers)) - 1]
    return resolve


def loopback_network(resolve: Callable[[str, int], list[str]],
                     public: dict[int, int]) -> Callable[..., socket.socket]:
    """A connector as the machine's network would be: a name is resolved (again) with
    ``resolve``; PUBLIC on port p goes to the loopback port public[p] (a stand-in for the
    public server); loopback goes to loopback; anything else fails the test."""

    def open_socket(address: tuple[str, int], timeout: float) -> socket.socket:
        host, port = address
        if host not in (PUBLIC, "127.0.0.1"):
            host = resolve(host, port)[0]
        if host == PUBLIC:
            host, port = "127.0.0.1", public[port]
        assert host == "127.0.0.1", f"a test connection to {host} refused"
        return socket.create_connection((host, port), timeout)
    return open_socket


def test_a_redirect_hop_connects_to_the_address_it_checked(server) -> None:
    # DNS rebinding: the name answers a public address to the check, loopback afterwards.
    # The request must go to the checked address, never reach the loopback service.
    server.route("/internal-admin", Response(body=b"internal"))
    server.route("/go", Response(302, headers={
        "Location": f"http://rebind.test:{server.port}/internal-admin?action=x"}))
    resolve = rebinding_resolver("rebind.test", [[PUBLIC], ["127.0.0.1"]])
    with LoopbackHTTPServer() as public:
        public.route("/internal-admin", Response(body=FEED))
        network = loopback_network(resolve, {server.port: public.port})
        with HttpFetcher(make_settings(), resolve=resolve, open_socket=network) as fetcher:
            assert fetcher.fetch(server.url("/go")).content == FEED
        assert server.requests_to("/internal-admin") == []
        [request] = public.requests_to("/internal-admin")
        assert request.headers["Host"] == f"rebind.test:{server.port}"


def test_a_moved_source_is_checked_and_pinned_at_every_fetch(server) -> None:
    server.route("/feed", Response(body=b"internal"))
    resolve = rebinding_resolver("moved.test", [[PUBLIC], ["127.0.0.1"]])
    with LoopbackHTTPServer() as public:
        public.route("/feed", Response(body=FEED))
        network = loopback_network(resolve, {server.port: public.port})
        with HttpFetcher(make_settings(), resolve=resolve, open_socket=network) as fetcher:
            url = f"http://moved.test:{server.port}/feed"
            assert fetcher.fetch(url, public_only=True).content == FEED
            assert str(error_of(fetcher, url, public_only=True)) == \
                "moved source at private address 127.0.0.1 refused"
        assert server.requests_to("/feed") == []
        assert len(public.requests_to("/feed")) == 1


def test_a_pinned_tls_hop_still_checks_the_certificate_of_the_host_name(
        server, tls_server, clean_proxy_env) -> None:
    # Connected to the checked address, TLS still names "localhost" (SNI and certificate).
    clean_proxy_env.setenv("REQUESTS_CA_BUNDLE", str(tls_server.cert))
    port = int(tls_server.url().rsplit(":", 1)[1].split("/")[0])
    server.route("/go", Response(302, headers={"Location": f"https://localhost:{port}/"}))
    resolve = rebinding_resolver("localhost", [[PUBLIC]])
    network = loopback_network(resolve, {port: port})
    with HttpFetcher(make_settings(), resolve=resolve, open_socket=network) as fetcher:
        assert fetcher.fetch(server.url("/go")).content == FEED


def test_same_host_redirect_of_a_configured_private_url_is_allowed(server, fetcher) -> None:
    server.route("/feed", Response(302, headers={"Location": "/feed/"}))
    server.route("/feed/", Response(body=FEED))
    assert fetcher.fetch(server.url("/feed")).content == FEED


@pytest.mark.parametrize("address, public", [
    ("93.184.216.34", True),
    ("8.8.8.8", True),
    ("2606:4700:4700::1111", True),
    ("127.0.0.1", False),
    ("10.0.0.1", False),
    ("172.16.5.4", False),
    ("192.168.1.1", False),
    ("169.254.169.254", False),     # cloud metadata, link-local
    ("100.64.0.1", False),          # shared address space (CGNAT)
    ("0.0.0.0", False),
    ("224.0.0.1", False),
    ("240.0.0.1", False),
    ("255.255.255.255", False),
    ("::1", False),
    ("::", False),
    ("fe80::1%eth0", False),
    ("fc00::1", False),
    ("ff02::1", False),
    ("fec0::1", False),
    ("::ffff:10.0.0.1", False),
    ("::ffff:93.184.216.34", True),
    ("2002:0a00:0001::1", False),   # 6to4 around 10.0.0.1
    ("64:ff9b::a00:1", False),      # NAT64 around 10.0.0.1
    ("not an ip", False),
])
def test_is_public_address(address, public) -> None:
    assert is_public_address(address) is public


def test_check_url_allowed_uses_the_resolver() -> None:
    resolve = fake_resolver({"news.test": ["93.184.216.34"], "router.test": ["192.168.0.1"]})
    check_url_allowed("https://news.test/a", resolve)
    with pytest.raises(FetchError, match="link to private address 192.168.0.1 refused"):
        check_url_allowed("https://router.test/a", resolve)
    with pytest.raises(FetchError, match="private address 127.0.0.1"):
        check_url_allowed("http://127.0.0.1:8080/", resolve)
    with pytest.raises(FetchError, match="private address ::1"):
        check_url_allowed("http://[::1]/", resolve)
    assert is_url_allowed("https://news.test/", resolve)
    assert not is_url_allowed("https://router.test/", resolve)
    assert not is_url_allowed("https://unknown.test/", resolve)


# -- connection reuse ----------------------------------------------------------------------

def test_connections_are_reused_after_bodies_304s_errors_and_redirects(server, fetcher) -> None:
    server.route("/feed", Response(body=FEED * 10))
    server.route("/same", Response(304))
    server.route("/missing", Response(404, b"no such feed"))
    server.route("/moved", Response(301, b"moved", headers={"Location": "/feed"}))
    for path in ("/feed", "/same", "/missing", "/moved", "/feed"):
        try:
            fetcher.fetch(server.url(path), etag='"e"' if path == "/same" else None)
        except FetchError:
            pass
    ports = {request.client[1] for request in server.requests}
    assert len(server.requests) == 6
    assert len(ports) == 1


def test_a_capped_body_does_not_poison_the_pool(server) -> None:
    server.route("/big", Response(body=b"x" * 5000))
    server.route("/ok", Response(body=b"fine"))
    with HttpFetcher(make_settings(max_body_size=4096)) as fetcher:
        with pytest.raises(FetchError):
            fetcher.fetch(server.url("/big"))
        assert fetcher.fetch(server.url("/ok")).content == b"fine"
        assert fetcher.fetch(server.url("/ok")).content == b"fine"


# -- transport: proxies, TLS, an injected pool ---------------------------------------------

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.mark.parametrize("host, port, no_proxy, bypass", [
    ("feeds.example.org", 443, "example.org", True),          # a subdomain
    ("example.org", 443, ".example.org", True),               # leading dot ignored
    ("badexample.org", 443, "example.org", False),            # not a subdomain
    ("feeds.example.org", 443, "other.org, example.org", True),
    ("feeds.example.org", 8080, "example.org:8080", True),
    ("feeds.example.org", 443, "example.org:8080", False),    # another port
    ("10.1.2.3", 80, "10.0.0.0/8", True),
    ("192.168.1.1", 80, "10.0.0.0/8", False),
    ("::1", 80, "::1", True),
    ("anything.test", 80, "*", True),
    ("feeds.example.org", 443, "", False),
])
def test_no_proxy_matches(host, port, no_proxy, bypass) -> None:
    assert no_proxy_matches(host, port, no_proxy) is bypass


def test_proxy_for_picks_by_scheme_then_all() -> None:
    proxies = {"http": "proxy.test:3128", "all": "http://all.test:8080", "no": "local.test"}
    assert proxy_for("http", "a.test", 80, proxies) == "http://proxy.test:3128"
    assert proxy_for("https", "a.test", 443, proxies) == "http://all.test:8080"
    assert proxy_for("http", "feeds.local.test", 80, proxies) is None
    assert proxy_for("https", "a.test", 443, {"http": "http://p.test"}) is None


def test_proxy_settings_lower_case_wins() -> None:
    found = proxy_settings({"HTTP_PROXY": "http://upper.test", "http_proxy": "http://lower.test",
                            "HTTPS_PROXY": "http://s.test", "NO_PROXY": "x.test", "PATH": "/b"})
    assert found == {"http": "http://lower.test", "https": "http://s.test", "no": "x.test"}


def test_fetch_goes_through_the_proxy_from_the_environment(server, clean_proxy_env) -> None:
    with LoopbackHTTPServer() as proxy:
        # A forward proxy sees the absolute URL as the request target.
        proxy.route("http://feeds.example.org/feed.xml", Response(body=FEED))
        clean_proxy_env.setenv("HTTP_PROXY", f"http://bob:s%40cret@127.0.0.1:{proxy.port}")
        with HttpFetcher(make_settings()) as fetcher:
            result = fetcher.fetch("http://feeds.example.org/feed.xml")
        assert result.content == FEED
        sent = proxy.requests_to("http://feeds.example.org/feed.xml")
        assert len(sent) == 1
        assert sent[0].headers["Proxy-Authorization"] == \
            "Basic " + base64.b64encode(b"bob:s@cret").decode()
        assert sent[0].headers["User-Agent"] == "news-monitor-test/1.0"


def test_no_proxy_sends_directly(server, clean_proxy_env) -> None:
    server.route("/direct", Response(body=FEED))
    with LoopbackHTTPServer() as proxy:
        clean_proxy_env.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        clean_proxy_env.setenv("no_proxy", "localhost,127.0.0.1")
        with HttpFetcher(make_settings()) as fetcher:
            assert fetcher.fetch(server.url("/direct")).content == FEED
        assert proxy.requests == []
        assert len(server.requests_to("/direct")) == 1


def test_socks_proxy_without_pysocks_is_a_clear_error(clean_proxy_env) -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    clean_proxy_env.setenv("ALL_PROXY", f"socks5://user:pw@127.0.0.1:{port}")
    with HttpFetcher(make_settings()) as fetcher:
        message = str(error_of(fetcher, "http://feeds.example.org/"))
    if importlib.util.find_spec("socks") is None:
        assert message == f"SOCKS proxy socks5://127.0.0.1:{port} needs PySocks (urllib3[socks])"
    else:
        assert message == "connection refused"
    assert "pw" not in message


def test_an_injected_pool_is_used(server) -> None:
    server.route("/feed", Response(body=FEED))
    pool = urllib3.PoolManager()
    with HttpFetcher(make_settings(), pool=pool) as fetcher:
        assert fetcher.fetch(server.url("/feed")).content == FEED
        assert len(pool.pools) == 1


def test_credentials_in_the_url_are_sent_as_basic_auth(server, fetcher) -> None:
    server.route("/private", Response(body=FEED))
    url = f"http://reader:pa%3Ass@127.0.0.1:{server.port}/private"
    assert fetcher.fetch(url).content == FEED
    assert server.requests_to("/private")[0].headers["Authorization"] == \
        "Basic " + base64.b64encode(b"reader:pa:ss").decode()


def test_credentials_go_on_to_the_same_origin_after_a_redirect_and_never_elsewhere(
        server, fetcher) -> None:
    # Servers answer with an absolute Location that does not repeat the credentials.
    basic = "Basic " + base64.b64encode(b"reader:pa:ss").decode()
    server.route("/old", Response(301, headers={"Location": server.url("/new")}))
    server.route("/new", lambda request: Response(
        body=FEED) if request.headers.get("Authorization") == basic else Response(401))
    url = f"http://reader:pa%3Ass@127.0.0.1:{server.port}/old"
    result = fetcher.fetch(url)
    assert result.content == FEED
    # The moved source keeps its credentials for its next polls (never shown: see urls.py).
    assert result.permanent_redirect == f"http://reader:pa%3Ass@127.0.0.1:{server.port}/new"
    with LoopbackHTTPServer() as other:
        other.route("/feed", Response(body=FEED))
        server.route("/away", Response(302, headers={"Location": other.url("/feed")}))
        with HttpFetcher(make_settings(allow_private_networks=True)) as allowing:
            allowing.fetch(f"http://reader:pa%3Ass@127.0.0.1:{server.port}/away")
        assert "Authorization" not in other.requests_to("/feed")[0].headers


@pytest.mark.parametrize("url", ["feeds.example.org/rss", "ftp://example.org/rss", "http:///x",
                                 "http://example.org:99999/"])
def test_invalid_urls(fetcher, url) -> None:
    assert str(error_of(fetcher, url)) == f"invalid URL {url!r}"


class _TLSServer:
    """An HTTPS server on 127.0.0.1 with a fresh self-signed certificate (for localhost)."""

    def __init__(self, directory: Path) -> None:
        self.cert = directory / "cert.pem"
        key = directory / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost",
             "-keyout", str(key), "-out", str(self.cert)],
            check=True, capture_output=True, timeout=60)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's API
                self.send_response(200)
                self.send_header("Content-Length", str(len(FEED)))
                self.end_headers()
                self.wfile.write(FEED)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host: str = "localhost") -> str:
        return f"https://{host}:{self.httpd.server_address[1]}/feed"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[_TLSServer]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    server = _TLSServer(tmp_path)
    try:
        yield server
    finally:
        server.close()


def test_tls_is_verified_by_default(tls_server, clean_proxy_env) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        clean_proxy_env.delenv(name, raising=False)
    with HttpFetcher(make_settings()) as fetcher:
        message = str(error_of(fetcher, tls_server.url()))
    assert message.startswith("TLS error:")
    assert "CERTIFICATE_VERIFY_FAILED" in message


def test_tls_trusts_requests_ca_bundle(tls_server, clean_proxy_env) -> None:
    clean_proxy_env.setenv("REQUESTS_CA_BUNDLE", str(tls_server.cert))
    with HttpFetcher(make_settings()) as fetcher:
        assert fetcher.fetch(tls_server.url()).content == FEED


def test_tls_trusts_ssl_cert_file(tls_server, clean_proxy_env) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        clean_proxy_env.delenv(name, raising=False)
    clean_proxy_env.setenv("SSL_CERT_FILE", str(tls_server.cert))
    with HttpFetcher(make_settings()) as fetcher:
        assert fetcher.fetch(tls_server.url()).content == FEED


def test_tls_checks_the_host_name(tls_server, clean_proxy_env) -> None:
    # A trusted certificate, for "localhost" only: 127.0.0.1 is not a name it carries.
    clean_proxy_env.setenv("REQUESTS_CA_BUNDLE", str(tls_server.cert))
    with HttpFetcher(make_settings()) as fetcher:
        message = str(error_of(fetcher, tls_server.url("127.0.0.1")))
    assert message.startswith("TLS error:")
    assert "mismatch" in message


def test_a_missing_ca_bundle_fails_at_start(clean_proxy_env, tmp_path) -> None:
    clean_proxy_env.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="REQUESTS_CA_BUNDLE"):
        HttpFetcher(make_settings())


def test_credentials_in_a_url_never_reach_the_error(fetcher) -> None:
    error = error_of(fetcher, "https://reader:s3cret-pw@feeds.example:99999/rss")
    assert "s3cret-pw" not in str(error) and "invalid URL" in str(error)


@pytest.mark.parametrize("no_proxy", [".", "[]", "localhost,."])
def test_an_empty_no_proxy_entry_matches_no_host(no_proxy: str) -> None:
    from monitor.fetch.transport import no_proxy_matches

    assert not no_proxy_matches("", 0, no_proxy)
    assert not no_proxy_matches("feeds.example", 443, no_proxy)


@pytest.mark.parametrize("padding", [b"\x00\x00\x00\x00", b"garbage after the member"])
def test_padding_after_a_complete_gzip_member_is_ignored(server, fetcher,
                                                         padding: bytes) -> None:
    server.route("/z", Response(body=gzip.compress(b"<rss/>") + padding,
                                headers={"Content-Encoding": "gzip"}))
    assert fetcher.fetch(server.url("/z")).content == b"<rss/>"


def test_a_name_that_resolves_to_no_address_is_a_fetch_error() -> None:
    settings = MonitorSettings(allow_private_networks=True)
    with HttpFetcher(settings, resolve=lambda name, port: []) as fetcher, \
            pytest.raises(FetchError, match=r"^cannot resolve host wire\.test$"):
        fetcher.fetch("http://wire.test/feed")
