"""One poll of one source, on a real loopback server: redirects, gone, robots, caching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app import App, build_app
from monitor.config import load_config_data
from tests.loopback import LoopbackHTTPServer, Response

FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
        b"<item><title>Weather turns cold in the north</title>"
        b"<link>https://desk.example/1</link><guid>1</guid></item></channel></rss>")
PAGE = (b"<html><body><article><a href='/a'>Ministry statement on trade</a></article>"
        b"</body></html>")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def server():
    with LoopbackHTTPServer() as http:
        yield http


def make_app(tmp_path: Path, sources: list[dict], clock: Clock) -> App:
    config = load_config_data({
        "monitor": {"database": str(tmp_path / "m.db"), "min_host_interval": "0s",
                    "poll_interval": "10m", "max_backoff": "6h"},
        "topics": [{"name": "t", "event": "recognition"}], "sources": sources})
    return build_app(config, clock=clock)


def test_permanent_redirect_updates_the_stored_url(tmp_path: Path, server) -> None:
    server.route("/old.xml", Response(301, headers={"Location": "/new.xml"}))
    server.route("/new.xml", Response(body=FEED))
    app = make_app(tmp_path, [{"name": "s", "url": server.url("/old.xml")}], Clock())
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
    clock = Clock()
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
    clock = Clock()
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
    clock = Clock()
    app = make_app(tmp_path, [{"name": "s", "url": server.url("/busy.xml")}], clock)
    try:
        app.pipeline.poll(app.config.sources[0])
        assert app.store.source_state("s").next_poll_at >= clock.now + timedelta(hours=2)
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
                              {"name": "p", "url": server.url("/plain.xml")}], Clock())
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
                   Clock())
    try:
        hidden, open_ = (app.pipeline.poll(s) for s in app.config.sources)
        assert hidden.status == "error" and "robots.txt" in (hidden.error or "")
        assert server.requests_to("/private/list.html") == []
        assert open_.status == "ok" and open_.items == 1
    finally:
        app.close()
