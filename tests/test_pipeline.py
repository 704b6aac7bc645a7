"""One poll of one source, on a real loopback server: redirects, gone, robots, caching."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.app import App, build_app
from monitor.commit import commit_poll
from monitor.config import load_config_data
from monitor.types import PollRecord
from tests.fakes import FixedClock, MonotonicClock
from tests.loopback import LoopbackHTTPServer, Response, wait_for

FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
        b"<item><title>Weather turns cold in the north</title>"
        b"<link>https://desk.example/1</link><guid>1</guid></item></channel></rss>")
PAGE = (b"<html><body><article><a href='/a'>Ministry statement on trade</a></article>"
        b"</body></html>")


@pytest.fixture()
def server():
    with LoopbackHTTPServer() as http:
        yield http


def make_app(tmp_path: Path, sources: list[dict], clock: FixedClock) -> App:
    config = load_config_data({
        "monitor": {"database": str(tmp_path / "m.db"), "min_host_interval": "0s",
                    "poll_interval": "10m", "max_backoff": "6h"},
        "topics": [{"name": "t", "event": "recognition"}], "sources": sources})
    return build_app(config, clock=clock)


def test_permanent_redirect_updates_the_stored_url(tmp_path: Path, server) -> None:
    server.route("/old.xml", Response(301, headers={"Location": "/new.xml"}))
    server.route("/new.xml", Response(body=FEED))
    app = make_app(tmp_path, [{"name": "s", "url": server.url("/old.xml")}], FixedClock())
    try:
        assert app.pipeline.poll(app.config.sources[0]).status == "ok"
        assert app.store.source_state("s").url == server.url("/new.xml")
        app.pipeline.poll(app.config.sources[0])
        assert len(server.requests_to("/old.xml")) == 1  # not asked again
        assert len(server.requests_to("/new.xml")) == 2
    finally:
        app.close()


def test_gone_source_is_marked_and_still_retried_later(tmp_path: Path, server) -> None:
    server.route("/gone.xml", Response(410, b"gone"))
    clock = FixedClock()
    app = make_app(tmp_path, [{"name": "s", "url": server.url("/gone.xml")}], clock)
    try:
        outcome = app.pipeline.poll(app.config.sources[0])
        state = app.store.source_state("s")
        assert outcome.status == "gone" and state.gone and "410" in (state.last_error or "")
        assert state.next_poll_at == clock.now + timedelta(hours=6)
        server.route("/gone.xml", Response(body=FEED))  # it came back
        clock.now += timedelta(hours=6)
        assert app.pipeline.poll(app.config.sources[0]).status == "ok"
        assert not app.store.source_state("s").gone
    finally:
        app.close()


def test_failures_back_off_and_recover(tmp_path: Path, server) -> None:
    server.route("/flaky.xml", Response(500, b"oops"))
    clock = FixedClock()
    app = make_app(tmp_path, [{"name": "s", "url": server.url("/flaky.xml")}], clock)
    try:
        delays = []
        for _ in range(4):
            app.pipeline.poll(app.config.sources[0])
            state = app.store.source_state("s")
            delays.append(state.next_poll_at - clock.now)
            clock.now = state.next_poll_at
        assert delays == sorted(delays) and delays[-1] > 4 * delays[0]
        assert app.store.source_state("s").consecutive_failures == 4
        server.route("/flaky.xml", Response(body=FEED, headers={"Retry-After": "0"}))
        app.pipeline.poll(app.config.sources[0])
        state = app.store.source_state("s")
        assert state.consecutive_failures == 0 and state.last_error is not None
        assert timedelta(minutes=9) <= state.next_poll_at - clock.now <= timedelta(minutes=11)
    finally:
        app.close()


def test_retry_after_is_honoured(tmp_path: Path, server) -> None:
    server.route("/busy.xml", Response(503, b"busy", headers={"Retry-After": "7200"}))
    clock = FixedClock()
    app = make_app(tmp_path, [{"name": "s", "url": server.url("/busy.xml")}], clock)
    try:
        app.pipeline.poll(app.config.sources[0])
        assert app.store.source_state("s").next_poll_at >= clock.now + timedelta(hours=2)
    finally:
        app.close()


@pytest.mark.parametrize(("status", "headers", "wait"), [
    (200, {"Cache-Control": "max-age=100000000000000"}, timedelta(hours=6)),
    (200, {"Expires": "Fri, 31 Dec 9999 23:59:59 GMT"}, timedelta(hours=6)),
    (503, {"Retry-After": "100000000000000"}, timedelta(hours=12)),
    (503, {"Retry-After": "Thu, 01 Jan 99999999999999999999 00:00:00 GMT"}, None),
])
def test_absurd_server_delays_are_clamped_and_the_poll_recorded(
        tmp_path: Path, server, status: int, headers: dict[str, str],
        wait: timedelta | None) -> None:
    """Such a header made every poll of the source crash, storing nothing.
    A caching hint counts up to 6 hours, a Retry-After up to twice max_backoff."""
    server.route("/odd.xml", Response(status, FEED if status == 200 else b"busy",
                                      headers=headers))
    clock = FixedClock()
    app = make_app(tmp_path, [{"name": "s", "url": server.url("/odd.xml")}], clock)
    try:
        outcome = app.pipeline.poll(app.config.sources[0])
        app.pipeline.flush()
        state = app.store.source_state("s")
        assert outcome.status == ("ok" if status == 200 else "error")
        assert state.last_fetch_at == clock.now
        if wait is not None:
            assert state.next_poll_at == clock.now + wait
        else:   # an unreadable Retry-After is ignored: the plain backoff, 10 min +-25%
            assert clock.now < state.next_poll_at <= clock.now + timedelta(minutes=13)
    finally:
        app.close()


def test_conditional_get_and_unchanged_body(tmp_path: Path, server) -> None:
    def etagged(request):
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(304, headers={"ETag": '"v1"'})
        return Response(body=FEED, headers={"ETag": '"v1"'})

    server.route("/etag.xml", etagged)
    server.route("/plain.xml", Response(body=FEED))
    app = make_app(tmp_path, [{"name": "e", "url": server.url("/etag.xml")},
                              {"name": "p", "url": server.url("/plain.xml")}], FixedClock())
    try:
        first = [app.pipeline.poll(s).status for s in app.config.sources]
        second = [app.pipeline.poll(s).status for s in app.config.sources]
        assert first == ["ok", "ok"] and second == ["not_modified", "unchanged"]
    finally:
        app.close()


def test_robots_txt_is_honoured_for_pages(tmp_path: Path, server) -> None:
    server.route("/robots.txt", Response(body=b"User-agent: *\nDisallow: /private/\n"))
    server.route("/private/list.html", Response(body=PAGE))
    server.route("/public/list.html", Response(body=PAGE))
    page = {"type": "page", "item_selector": "article", "link_selector": "a"}
    app = make_app(tmp_path, [{"name": "hidden", "url": server.url("/private/list.html"),
                               **page},
                              {"name": "open", "url": server.url("/public/list.html"), **page}],
                   FixedClock())
    try:
        hidden, open_ = (app.pipeline.poll(s) for s in app.config.sources)
        assert hidden.status == "error" and "robots.txt" in (hidden.error or "")
        assert server.requests_to("/private/list.html") == []
        assert open_.status == "ok" and open_.items == 1
    finally:
        app.close()


def rss(*items: tuple[str, str, str, str]) -> bytes:
    """items: (guid, link, title, pubDate or "")."""
    body = "".join(f"<item><guid>{g}</guid><link>{link}</link><title>{t}</title>"
                   + (f"<pubDate>{d}</pubDate>" if d else "") + "</item>"
                   for g, link, t, d in items)
    return f'<rss version="2.0"><channel><title>T</title>{body}</channel></rss>'.encode()


def outbox(app: App) -> list[tuple[str, str]]:
    return [(r["title"], r["notifier"]) for r in app.store._query(
        "SELECT s.title, o.notifier FROM outbox o JOIN stories s ON s.id = o.story_id")]


def make_notified_app(tmp_path: Path, sources: list[dict], clock: FixedClock,
                      database: str | None = None, workers: int | str = "auto") -> App:
    config = load_config_data({
        "monitor": {"database": database or str(tmp_path / "m.db"), "min_host_interval": "0s",
                    "workers": workers},
        "topics": [{"name": "t", "event": "recognition"}], "sources": sources,
        "notifiers": [{"name": "n", "type": "file", "path": str(tmp_path / "n.log")}]})
    return build_app(config, clock=clock)


CLEAR = "Norway accepts the credentials of the Taliban's ambassador"


def test_a_clear_copy_of_a_vague_article_alerts(tmp_path: Path, database: str, server) -> None:
    """The same URL, first with a headline that matches nothing, then with a clear one."""
    server.route("/a.xml", Response(body=rss(("a1", "https://news.example/x", "Envoy news", ""))))
    server.route("/b.xml", Response(body=rss(
        ("b1", "https://news.example/x?utm_source=feed", CLEAR, ""))))
    app = make_notified_app(tmp_path, [{"name": "a", "url": server.url("/a.xml")},
                                       {"name": "b", "url": server.url("/b.xml")}],
                            FixedClock(), database)
    try:
        for source in app.config.sources:
            app.pipeline.poll(source)
        assert outbox(app) == [(CLEAR, "n")]
    finally:
        app.close()


def test_same_url_from_two_sources_polled_at_once_alerts_once(tmp_path: Path, database: str,
                                                              server) -> None:
    server.route("/a.xml", Response(body=rss(("a1", "https://news.example/y", CLEAR, ""))))
    server.route("/b.xml", Response(body=rss(
        ("b1", "https://news.example/y", "Oslo receives envoy of the Taliban government as "
                                         "ambassador, accepting his credentials", ""))))
    # Sifting in this process: its store's lookup is the one made stale below.
    app = make_notified_app(tmp_path, [{"name": "a", "url": server.url("/a.xml")},
                                       {"name": "b", "url": server.url("/b.xml")}],
                            FixedClock(), database, workers=1)
    try:
        app.pipeline.poll(app.config.sources[0])
        lookup = app.store.known_keys
        calls = []

        def stale(source, items, canonical):  # b looked before a's poll was committed
            known = lookup(source, items, canonical)
            calls.append(known.urls)
            return replace(known, urls={})

        app.store.known_keys = stale  # type: ignore[method-assign]
        app.pipeline.poll(app.config.sources[1])
        assert [list(urls) for urls in calls] == [["https://news.example/y"]]   # it was there
        assert [title for title, _ in outbox(app)] == [CLEAR]
    finally:
        app.close()


def test_changing_a_source_url_makes_its_next_poll_a_first_poll(tmp_path: Path, database: str,
                                                                server) -> None:
    old = "Mon, 07 Jul 2025 10:00:00 GMT"
    server.route("/one.xml", Response(body=rss(("o1", "https://one.example/1", "Rain", ""))))
    server.route("/two.xml", Response(body=rss(("t1", "https://two.example/1", CLEAR, old))))
    clock = FixedClock()
    app = make_notified_app(tmp_path, [{"name": "s", "url": server.url("/one.xml")}], clock,
                            database)
    app.pipeline.poll(app.config.sources[0])
    app.close()
    app = make_notified_app(tmp_path, [{"name": "s", "url": server.url("/two.xml")}], clock,
                            database)
    try:
        outcome = app.pipeline.poll(app.config.sources[0])
        assert outcome.status == "ok" and outbox(app) == []  # old news of a new feed
    finally:
        app.close()


def test_a_fresh_report_of_a_story_first_seen_too_old_alerts(tmp_path: Path, database: str,
                                                             server) -> None:
    clock = FixedClock()
    old = (clock.now - timedelta(days=5)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    server.route("/a.xml", Response(body=rss(("a1", "https://a.example/1", CLEAR, old))))
    server.route("/b.xml", Response(body=rss(("b1", "https://a.example/1", "Rain", ""))))
    app = make_notified_app(tmp_path, [{"name": "a", "url": server.url("/a.xml")},
                                       {"name": "b", "url": server.url("/b.xml")}], clock, database)
    try:
        app.pipeline.poll(app.config.sources[0])
        app.pipeline.poll(app.config.sources[1])
        assert outbox(app) == []  # first poll: too old; b's first poll records b1 as old too
        fresh = clock.now.strftime("%a, %d %b %Y %H:%M:%S GMT")
        server.route("/a.xml", Response(body=rss(
            ("a1", "https://a.example/1", CLEAR, old),
            ("a2", "https://a.example/2", CLEAR + " in Oslo", fresh))))
        clock.now += timedelta(hours=1)
        app.pipeline.poll(app.config.sources[0])
        assert [title for title, _ in outbox(app)] == [CLEAR]  # the story, now alerted
    finally:
        app.close()


def test_a_slow_host_does_not_hold_every_worker(tmp_path: Path, server) -> None:
    from monitor.scheduler import poll_sources

    server.route("/slow.xml", Response(body=FEED, delay=0.5))
    server.route("/fast.xml", Response(body=FEED))
    slow = [{"name": f"slow {i}", "url": server.url(f"/slow.xml?{i}")} for i in range(8)]
    fast = {"name": "fast", "url": f"http://localhost:{server.port}/fast.xml"}  # another host
    config = load_config_data({
        "monitor": {"database": str(tmp_path / "m.db"), "min_host_interval": "0s",
                    "max_concurrency": 4, "max_per_host": 2, "allow_private_networks": True},
        "topics": [{"name": "t", "event": "recognition"}], "sources": [*slow, fast]})
    app = build_app(config, clock=FixedClock())
    try:
        outcomes = poll_sources(app, config.sources)
        assert [o.status for o in outcomes] == ["ok"] * 9
        assert outcomes[0].source == "fast"  # not queued behind the slow host's eight
    finally:
        app.close()


def test_a_source_moved_to_another_host_is_checked_at_every_poll(tmp_path: Path,
                                                                 server) -> None:
    """A 301 to a host that later resolves to a private address is refused then."""
    app = make_app(tmp_path, [{"name": "s", "url": server.url("/feed.xml")}], FixedClock())
    try:
        state = app.store.source_state("s")
        moved = replace(state, url=f"http://localhost:{server.port}/feed.xml")
        commit_poll(app.store, PollRecord(moved), {}, app.clock())
        server.route("/feed.xml", Response(body=FEED))
        outcome = app.pipeline.poll(app.config.sources[0])
        assert outcome.status == "error" and "private address" in (outcome.error or "")
        assert server.requests_to("/feed.xml") == []
    finally:
        app.close()


def test_ctrl_c_in_poll_sources_lets_polls_in_flight_end_and_starts_no_more(
        tmp_path: Path, server) -> None:
    import signal

    from monitor.scheduler import poll_sources

    server.route("/slow.xml", Response(body=FEED, delay=0.5))
    sources = [{"name": f"slow {i}", "url": server.url(f"/slow.xml?{i}")} for i in range(6)]
    config = load_config_data({
        "monitor": {"database": str(tmp_path / "m.db"), "min_host_interval": "0s",
                    "max_concurrency": 2, "max_per_host": 1, "allow_private_networks": True},
        "topics": [{"name": "t", "event": "recognition"}], "sources": sources})
    app = build_app(config, clock=FixedClock())

    def interrupt() -> None:
        wait_for(lambda: server.requests_to("/slow.xml"))
        signal.raise_signal(signal.SIGINT)

    try:
        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            poll_sources(app, config.sources)
        assert len(server.requests_to("/slow.xml")) == 1     # no poll started after it
        state = app.store.source_state("slow 0")
        assert state.last_status == "ok"                      # the one in flight ended
    finally:
        app.close()


@pytest.mark.parametrize("asked, waited", [("7", 7.0), ("86400", 60.0)])
def test_a_crawl_delay_spaces_the_requests_to_a_page_host(tmp_path: Path, server,
                                                          asked: str, waited: float) -> None:
    from monitor.fetch import HostLimiter

    server.route("/robots.txt", Response(body=f"User-agent: *\nCrawl-delay: {asked}\n".encode()))
    server.route("/a.html", Response(body=PAGE))
    server.route("/b.html", Response(body=PAGE))
    page = {"type": "page", "item_selector": "article", "link_selector": "a"}
    app = make_app(tmp_path, [{"name": "a", "url": server.url("/a.html"), **page},
                              {"name": "b", "url": server.url("/b.html"), **page}], FixedClock())
    fake = MonotonicClock(1000.0)
    app.pipeline.limiter = HostLimiter(2, 0.0, clock=fake, sleep=fake.sleep)
    try:
        assert [app.pipeline.poll(s).status for s in app.config.sources] == ["ok", "ok"]
        assert fake.sleeps == [waited]      # the second page waited; capped at a minute
    finally:
        app.close()
