"""RobotsCache against a real server on 127.0.0.1: rules, status handling, caching per ttl."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from monitor.config import MonitorSettings
from monitor.errors import FetchError
from monitor.fetch import HttpFetcher, RobotsCache
from monitor.fetch.robots import robots_url, rules_from_error
from tests.fakes import MonotonicClock
from tests.loopback import LoopbackHTTPServer, RecordedRequest, Response

UA = "news-monitor/0.1 (+https://example.org/contact)"
ROBOTS = b"""
User-agent: *
Disallow: /private/
Allow: /private/press/

User-agent: news-monitor
Disallow: /no-monitors/
Crawl-delay: 3
"""


@pytest.fixture
def server(fresh_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    return fresh_server


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    with HttpFetcher(MonitorSettings(user_agent=UA, fetch_deadline="5s")) as f:
        yield f


def test_rules_are_applied(server, fetcher) -> None:
    server.route("/robots.txt", Response(body=ROBOTS, headers={"Content-Type": "text/plain"}))
    robots = RobotsCache(fetcher, UA)

    assert robots.allowed(server.url("/news/"))
    assert robots.allowed(server.url("/private/press/today"))
    assert not robots.allowed(server.url("/no-monitors/list"))
    # Our own group applies instead of "*": /private/ is only closed to other robots.
    assert robots.allowed(server.url("/private/x"))
    assert robots.crawl_delay(server.url("/")) == 3.0


def test_generic_rules_when_no_group_names_us(server) -> None:
    server.route("/robots.txt", Response(body=ROBOTS))
    with HttpFetcher(MonitorSettings(user_agent="otherbot/2.0")) as other:
        robots = RobotsCache(other, "otherbot/2.0")
        assert not robots.allowed(server.url("/private/x"))
        assert robots.allowed(server.url("/private/press/x"))
        assert robots.allowed(server.url("/no-monitors/list"))
        assert robots.crawl_delay(server.url("/")) is None


def test_disallow_all(server, fetcher) -> None:
    server.route("/robots.txt", Response(body=b"User-agent: *\nDisallow: /\n"))
    robots = RobotsCache(fetcher, UA)
    assert not robots.allowed(server.url("/"))
    assert not robots.allowed(server.url("/press/"))


@pytest.mark.parametrize("status, allowed", [
    (404, True), (410, True), (400, True),
    (401, False), (403, False),
    (500, True), (503, True), (429, True),
])
def test_status_decides_when_there_is_no_file(server, fetcher, status, allowed) -> None:
    server.route("/robots.txt", Response(status))
    robots = RobotsCache(fetcher, UA)
    assert robots.allowed(server.url("/press/")) is allowed


def test_network_error_allows(fetcher) -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    robots = RobotsCache(fetcher, UA)
    assert robots.allowed(f"http://127.0.0.1:{port}/press/")


def test_fetched_once_per_ttl(server, fetcher) -> None:
    server.route("/robots.txt", Response(body=b"User-agent: *\nDisallow: /closed/\n"))
    clock = MonotonicClock()
    robots = RobotsCache(fetcher, UA, ttl=3600, clock=clock)

    assert robots.allowed(server.url("/a"))
    assert not robots.allowed(server.url("/closed/b"))
    clock.now = 3599
    assert robots.allowed(server.url("/c"))
    assert len(server.requests_to("/robots.txt")) == 1

    server.route("/robots.txt", Response(body=b"User-agent: *\nDisallow: /\n"))
    clock.now = 3601
    assert not robots.allowed(server.url("/a"))
    assert len(server.requests_to("/robots.txt")) == 2


def test_transient_errors_are_asked_again_sooner(server, fetcher) -> None:
    server.route("/robots.txt", Response(503))
    clock = MonotonicClock()
    robots = RobotsCache(fetcher, UA, ttl=86400, error_ttl=600, clock=clock)
    assert robots.allowed(server.url("/a"))
    clock.now = 601
    server.route("/robots.txt", Response(body=b"User-agent: *\nDisallow: /\n"))
    assert not robots.allowed(server.url("/a"))
    assert len(server.requests_to("/robots.txt")) == 2


def test_cached_per_scheme_and_host(server, fetcher) -> None:
    server.route("/robots.txt", Response(body=b"User-agent: *\nDisallow: /x\n"))
    robots = RobotsCache(fetcher, UA)
    robots.allowed(server.url("/a"))
    robots.allowed(f"http://LOCALHOST:{server.port}/a")   # not 127.0.0.1: its own file
    robots.allowed(f"http://localhost:{server.port}/b")   # same host, other case: cached
    assert len(server.requests_to("/robots.txt")) == 2


def test_concurrent_questions_fetch_once(server, fetcher) -> None:
    gate = threading.Event()

    def slow(request: RecordedRequest) -> Response:
        gate.wait(5)
        return Response(body=b"User-agent: *\nDisallow: /x\n")

    server.route("/robots.txt", slow)
    robots = RobotsCache(fetcher, UA)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(robots.allowed, server.url(f"/page{i}")) for i in range(6)]
        gate.set()
        assert all(f.result() for f in futures)
    assert len(server.requests_to("/robots.txt")) == 1


def test_robots_url() -> None:
    assert robots_url("https://News.example.org/a/b?c=d#e") == "https://news.example.org/robots.txt"
    assert robots_url("http://example.org:8080/a") == "http://example.org:8080/robots.txt"


def test_rules_from_error_reason_names_the_status() -> None:
    rules, transient = rules_from_error(FetchError("HTTP 403 Forbidden", status=403))
    assert not rules.allow_all and not transient
    assert "403" in rules.reason
    rules, transient = rules_from_error(FetchError("connection refused"))
    assert rules.allow_all and transient


def test_groups_for_other_crawlers_named_in_our_user_agent_do_not_apply(server) -> None:
    from monitor.fetch.robots import product_token

    assert product_token("news-monitor/0.1 (+https://github.com/x)") == "news-monitor"
    server.route("/robots.txt", Response(body=b"User-agent: github\nDisallow: /\n\n"
                                              b"User-agent: news-monitor\nDisallow: /private\n"))
    settings = MonitorSettings(user_agent="news-monitor/0.1 (+https://github.com/x)")
    with HttpFetcher(settings) as fetcher:
        robots = RobotsCache(fetcher, settings.user_agent)
        assert robots.allowed(server.url("/news/list.html"))
        assert not robots.allowed(server.url("/private/list.html"))


def test_robots_txt_of_a_moved_source_is_not_fetched_from_a_private_address(server) -> None:
    # A page source moved by a permanent redirect to a name that resolves to loopback: its
    # robots.txt is refused as the page itself is, and loopback never sees the request.
    from tests.test_fetch import loopback_network, rebinding_resolver

    server.route("/robots.txt", Response(body=b"User-agent: *\nAllow: /\n"))
    resolve = rebinding_resolver("moved.test", [["127.0.0.1"]])
    network = loopback_network(resolve, {})
    url = f"http://moved.test:{server.port}/page"
    with HttpFetcher(MonitorSettings(user_agent=UA), resolve=resolve,
                     open_socket=network) as fetcher:
        RobotsCache(fetcher, UA).allowed(url, public_only=True)
        assert server.requests_to("/robots.txt") == []
        RobotsCache(fetcher, UA).allowed(url)      # a host the operator chose: fetched
        assert len(server.requests_to("/robots.txt")) == 1
