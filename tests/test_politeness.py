"""HostLimiter: per-host cap (observed by a real server) and spacing of request starts."""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import pytest

from monitor.config import MonitorSettings, SourceConfig
from monitor.fetch import HostLimiter, HttpFetcher, host_key
from monitor.scheduler import _HostQueues
from tests.fakes import MonotonicClock
from tests.loopback import LoopbackHTTPServer, RecordedRequest, Response, wait_for


@pytest.mark.parametrize("url, key", [
    ("https://News.Example.org/feed", "news.example.org:443"),
    ("https://news.example.org:443/other", "news.example.org:443"),
    ("http://news.example.org/feed", "news.example.org:80"),
    ("http://news.example.org:8080/feed", "news.example.org:8080"),
    ("http://[::1]:8080/", "[::1]:8080"),
])
def test_host_key(url, key) -> None:
    assert host_key(url) == key


def test_min_interval_spaces_starts_to_one_host() -> None:
    clock = MonotonicClock(1000.0)
    limiter = HostLimiter(max_per_host=2, min_interval=2.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(3):
        with limiter.slot("news.example.org:443"):
            starts.append(clock())
    assert starts == [1000.0, 1002.0, 1004.0]
    assert clock.sleeps == [2.0, 2.0]


def test_min_interval_counts_from_the_previous_start() -> None:
    clock = MonotonicClock(1000.0)
    limiter = HostLimiter(max_per_host=1, min_interval=2.0, clock=clock, sleep=clock.sleep)
    with limiter.slot("a:80"):
        clock.advance(1.5)               # the request itself took 1.5 s
    with limiter.slot("a:80"):
        pass
    assert clock.sleeps == [pytest.approx(0.5)]
    clock.advance(10)
    with limiter.slot("a:80"):
        pass
    assert len(clock.sleeps) == 1        # long enough ago: no wait


def test_hosts_are_independent_and_case_insensitive() -> None:
    clock = MonotonicClock(1000.0)
    limiter = HostLimiter(max_per_host=2, min_interval=5.0, clock=clock, sleep=clock.sleep)
    with limiter.slot("https://NEWS.example.org/a"):
        pass
    with limiter.slot("other.example.org:443"):
        pass
    assert clock.sleeps == []            # a different host does not wait
    with limiter.slot("news.example.org:443"):
        pass
    assert clock.sleeps == [5.0]         # same host, other spelling: waits


def test_cap_holds_across_threads() -> None:
    limiter = HostLimiter(max_per_host=3, min_interval=0)
    lock = threading.Lock()
    current = 0
    peak = 0
    release = threading.Event()

    def work() -> None:
        nonlocal current, peak
        with limiter.slot("h:80"):
            with lock:
                current += 1
                peak = max(peak, current)
            release.wait(5)
            with lock:
                current -= 1

    with ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(work) for _ in range(10)]
        wait_for(lambda: limiter.in_flight("h:80") == 3)
        release.set()
        for future in futures:
            future.result()
    assert peak == 3
    assert limiter.in_flight("h:80") == 0


def test_from_settings() -> None:
    limiter = HostLimiter.from_settings(MonitorSettings(max_per_host=4, min_host_interval="3s"))
    assert limiter.max_per_host == 4
    assert limiter.min_interval == 3.0


def test_prune_keeps_memory_bounded() -> None:
    clock = MonotonicClock(1000.0)
    limiter = HostLimiter(max_per_host=1, min_interval=1.0, clock=clock, sleep=clock.sleep)
    for i in range(5000):
        with limiter.slot(f"host{i}:80"):
            pass
        clock.advance(0.01)
    assert len(limiter._hosts) < 2100


def _fetch_in_parallel(server: LoopbackHTTPServer, limiter: HostLimiter | None,
                       count: int) -> None:
    settings = MonitorSettings(max_concurrency=count)
    with HttpFetcher(settings) as fetcher, ThreadPoolExecutor(count) as pool:
        def one(i: int) -> bytes | None:
            url = server.url(f"/feed{i}")
            if limiter is None:
                return fetcher.fetch(url).content
            with limiter.slot(host_key(url)):
                return fetcher.fetch(url).content

        results = list(pool.map(one, range(count)))
    assert results == [b"ok"] * count


def _busy_route(server: LoopbackHTTPServer, wanted: int, count: int,
                patience: float = 3.0) -> None:
    """Each request waits (up to ``patience`` s) until ``wanted`` requests are in flight."""
    def handler(request: RecordedRequest) -> Response:
        try:
            wait_for(lambda: server.in_flight >= wanted, timeout=patience)
        except AssertionError:
            pass
        return Response(body=b"ok")

    for i in range(count):
        server.route(f"/feed{i}", handler)


def test_per_host_cap_observed_by_the_server() -> None:
    with LoopbackHTTPServer() as server:
        _busy_route(server, wanted=2, count=8, patience=0.5)
        _fetch_in_parallel(server, HostLimiter(max_per_host=2, min_interval=0), count=8)
        assert server.max_in_flight == 2
        assert len(server.requests) == 8


def test_without_limiter_the_server_sees_more() -> None:
    # The control for the test above: the same load without a limiter exceeds the cap.
    with LoopbackHTTPServer() as server:
        _busy_route(server, wanted=4, count=8, patience=1.0)
        _fetch_in_parallel(server, None, count=8)
        assert server.max_in_flight >= 4


def test_spacing_observed_by_the_server() -> None:
    limiter = HostLimiter(max_per_host=2, min_interval=0.2)
    with LoopbackHTTPServer() as server:
        server.route("/feed0", Response(body=b"ok"))
        with HttpFetcher(MonitorSettings()) as fetcher:
            for _ in range(3):
                with limiter.slot(host_key(server.url())):
                    fetcher.fetch(server.url("/feed0"))
        starts = [r.started for r in server.requests]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(gaps) == 2
    assert all(gap >= 0.15 for gap in gaps), gaps    # a lower bound only: never flaky


# -- poll_sources' hand-out of sources by host ---------------------------------------------

def _queues(per_host: int, **hosts: list[str]) -> _HostQueues:
    sources = {host: deque(SourceConfig(name=n, url=f"https://{host}.example/{n}")
                           for n in names) for host, names in hosts.items()}
    return _HostQueues(sources, per_host)


def _name(taken: tuple[str, SourceConfig] | None) -> str | None:
    return None if taken is None else taken[1].name


def test_sources_are_handed_out_host_by_host_within_the_cap() -> None:
    queues = _queues(2, a=["a1", "a2", "a3"], b=["b1"])
    assert [_name(queues.take()) for _ in range(3)] == ["a1", "b1", "a2"]
    queues.done("a")                       # host a is under its cap again
    assert _name(queues.take()) == "a3"
    assert queues.take() is None           # every source handed out


def test_a_host_at_its_cap_waits_until_a_poll_of_it_ends() -> None:
    queues = _queues(1, a=["a1", "a2"])
    assert _name(queues.take()) == "a1"
    taken: list[str | None] = []
    waiter = threading.Thread(target=lambda: taken.append(_name(queues.take())))
    waiter.start()
    waiter.join(0.2)
    assert taken == []                     # a1 still in flight
    queues.done("a")
    waiter.join(5)
    assert taken == ["a2"]


def test_a_cancel_hands_out_nothing_more_and_wakes_the_waiting() -> None:
    queues = _queues(1, a=["a1", "a2", "a3"])
    assert _name(queues.take()) == "a1"
    taken: list[str | None] = []
    waiter = threading.Thread(target=lambda: taken.append(_name(queues.take())))
    waiter.start()
    queues.cancel()
    waiter.join(5)
    queues.done("a")
    assert taken == [None] and queues.take() is None


def test_many_workers_never_exceed_the_per_host_cap() -> None:
    names = {host: [f"{host}{i}" for i in range(30)] for host in ("a", "b", "c")}
    queues = _queues(2, **names)
    lock = threading.Lock()
    active: dict[str, int] = {"a": 0, "b": 0, "c": 0}
    peak = dict(active)
    polled: list[str] = []

    def work() -> None:
        while (taken := queues.take()) is not None:
            host, source = taken
            with lock:
                active[host] += 1
                peak[host] = max(peak[host], active[host])
                polled.append(source.name)
            time.sleep(0.002)              # a poll takes a while: others overlap it
            with lock:
                active[host] -= 1
            queues.done(host)

    with ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(work)
    assert sorted(polled) == sorted(n for group in names.values() for n in group)
    assert max(peak.values()) <= 2


def test_a_longer_spacing_asked_for_one_request_delays_the_hosts_next_start() -> None:
    clock = MonotonicClock(1000.0)
    limiter = HostLimiter(max_per_host=2, min_interval=1.0, clock=clock, sleep=clock.sleep)
    with limiter.slot("a.example:443", min_interval=5.0):   # e.g. a robots.txt Crawl-delay
        pass
    with limiter.slot("a.example:443"):
        pass
    with limiter.slot("a.example:443", min_interval=0.5):  # shorter than the limiter's own
        pass
    with limiter.slot("a.example:443"):
        pass
    assert clock.sleeps == [5.0, 1.0, 1.0]
