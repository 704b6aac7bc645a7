"""One poll through the real Pipeline and a real store, with a FakeFetcher: no server.

The end-to-end paths (HTTP, redirects, robots.txt, politeness) stay in test_pipeline.py
and the other tests against loopback servers; here each poll's decisions and what it
records are checked against answers the test programs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app import App, build_app
from monitor.config import load_config_data
from monitor.deliver import Deliverer
from monitor.errors import FetchError
from monitor.types import Digest
from tests.fakes import Answer, FakeFetcher, FixedClock, RecordingNotifier

URL = "https://desk.example/feed.xml"
START = datetime(2025, 11, 4, 8, 30, tzinfo=UTC)
RECOGNITION = "Uruguay formally recognises the Taliban government of Afghanistan"
WEATHER = "Fog delays the morning ferries across the bay"


def rss(*items: tuple[str, str]) -> bytes:
    """items: (guid, title), undated, so that a source's first poll alerts them."""
    body = "".join(f"<item><guid>{g}</guid><link>https://desk.example/{g}</link>"
                   f"<title>{t}</title></item>" for g, t in items)
    return f'<rss version="2.0"><channel><title>Desk</title>{body}</channel></rss>'.encode()


@pytest.fixture()
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture()
def fetcher() -> FakeFetcher:
    return FakeFetcher()


@pytest.fixture()
def app(tmp_path: Path, clock: FixedClock, fetcher: FakeFetcher):
    config = load_config_data({
        "monitor": {"database": str(tmp_path / "m.db"), "poll_interval": "10m",
                    "max_backoff": "6h"},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": "desk", "url": URL}],
        "notifiers": [{"name": "n", "type": "file", "path": str(tmp_path / "n.log")}]})
    app = build_app(config, clock=clock, fetcher=fetcher)   # the seam: a fake network
    try:
        yield app
    finally:
        app.close()


def poll(app: App) -> str:
    outcome = app.pipeline.poll(app.config.sources[0])
    app.pipeline.flush()   # unchanged polls wait in a batch; commit before reading states
    return outcome.status


def deliver(app: App, clock: FixedClock) -> list[Digest]:
    notifier = RecordingNotifier("n")
    Deliverer(app.store, {"n": notifier}, {"n": app.config.notifiers[0]}, clock).flush("n")
    return notifier.sent


def test_the_app_reaches_the_network_only_through_the_fetcher_it_is_given(
        tmp_path: Path, clock: FixedClock, fetcher: FakeFetcher) -> None:
    """A page source's robots.txt is asked through the same port as the page: nothing
    leaves the fake."""
    page = "https://desk.example/press/"
    config = load_config_data({
        "monitor": {"database": str(tmp_path / "m.db")},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": "press", "type": "page", "url": page,
                     "item_selector": "article", "link_selector": "a"}]})
    fetcher.body("https://desk.example/robots.txt", b"User-agent: *\nDisallow: /press/\n")
    app = build_app(config, clock=clock, fetcher=fetcher)
    try:
        assert app.pipeline.poll(app.config.sources[0]).status == "error"
        app.pipeline.flush()
        assert [c.url for c in fetcher.calls] == ["https://desk.example/robots.txt"]
        assert "robots.txt" in (app.store.source_state("press").last_error or "")
    finally:
        app.close()


def test_new_items_alert_and_a_second_poll_does_not_repeat_them(
        app: App, fetcher: FakeFetcher, clock: FixedClock) -> None:
    fetcher.body(URL, rss(("1", RECOGNITION), ("2", WEATHER)), {"ETag": '"v1"'})
    assert poll(app) == "ok"
    state = app.store.source_state("desk")
    assert (state.etag, state.last_items, state.last_new) == ('"v1"', 2, 2)
    sent = deliver(app, clock)
    assert [[s.title for s in d.stories] for d in sent] == [[RECOGNITION]]

    clock.advance(timedelta(minutes=10))
    assert poll(app) == "unchanged"     # the same body again: nothing new to alert
    assert deliver(app, clock) == []
    assert fetcher.calls[-1].etag == '"v1"'  # the stored validator was sent


def test_not_modified_keeps_the_state_and_moves_the_next_poll(
        app: App, fetcher: FakeFetcher, clock: FixedClock) -> None:
    fetcher.body(URL, rss(("1", WEATHER)),
                 {"ETag": '"v1"', "Last-Modified": "Tue, 04 Nov 2025 08:00:00 GMT"})
    poll(app)
    before = app.store.source_state("desk")
    fetcher.not_modified(URL)
    clock.advance(timedelta(minutes=10))
    assert poll(app) == "not_modified"
    after = app.store.source_state("desk")
    call = fetcher.calls[-1]
    assert (call.etag, call.last_modified) == ('"v1"', "Tue, 04 Nov 2025 08:00:00 GMT")
    assert (after.etag, after.last_modified, after.body_hash, after.items_seen) == \
        (before.etag, before.last_modified, before.body_hash, before.items_seen)
    assert after.last_fetch_at == clock.now and after.consecutive_failures == 0
    assert after.next_poll_at is not None and after.next_poll_at > clock.now


def test_a_fetch_error_is_recorded_and_backs_off_until_a_success(
        app: App, fetcher: FakeFetcher, clock: FixedClock) -> None:
    fetcher.raises(URL, FetchError("connection reset by peer"))
    delays = []
    for failures in range(1, 4):
        assert poll(app) == "error"
        state = app.store.source_state("desk")
        assert state.consecutive_failures == failures
        assert state.last_error == "FetchError: connection reset by peer"
        assert state.failing_since == START
        assert state.next_poll_at is not None
        delays.append(state.next_poll_at - clock.now)
        clock.now = state.next_poll_at
    assert delays[0] < delays[1] < delays[2]

    fetcher.body(URL, rss(("1", WEATHER)))
    assert poll(app) == "ok"
    state = app.store.source_state("desk")
    assert state.consecutive_failures == 0 and state.failing_since is None


def test_a_server_asked_delay_is_honoured(app: App, fetcher: FakeFetcher,
                                          clock: FixedClock) -> None:
    fetcher.status(URL, 503, retry_after=7200)
    assert poll(app) == "error"
    state = app.store.source_state("desk")
    assert state.next_poll_at is not None and state.next_poll_at >= clock.now + timedelta(hours=2)


def test_410_marks_the_source_gone_and_it_can_come_back(
        app: App, fetcher: FakeFetcher, clock: FixedClock) -> None:
    fetcher.answers(URL, Answer(status=410, error=FetchError("HTTP 410", status=410, gone=True)),
                    Answer(body=rss(("1", WEATHER))))
    assert poll(app) == "gone"
    state = app.store.source_state("desk")
    assert state.gone and state.last_error == "FetchError: HTTP 410"
    assert state.next_poll_at == clock.now + timedelta(hours=6)   # still tried, rarely
    clock.now = state.next_poll_at
    assert poll(app) == "ok"
    assert not app.store.source_state("desk").gone
    assert len(fetcher.calls_to(URL)) == 2


def test_an_unprogrammed_url_fails_like_an_unreachable_host(fetcher: FakeFetcher) -> None:
    with pytest.raises(FetchError, match="no answer programmed"):
        fetcher.fetch("https://elsewhere.example/")
    assert [c.url for c in fetcher.calls] == ["https://elsewhere.example/"]


class TickingClock(FixedClock):
    """A clock that moves one second at each reading, and counts its readings."""

    readings = 0

    def __call__(self) -> datetime:
        self.readings += 1
        return self.advance(timedelta(seconds=1))


def test_a_poll_reads_the_clock_once_after_its_fetch(tmp_path: Path,
                                                     fetcher: FakeFetcher) -> None:
    """What is too old, the story window and the times recorded agree on one instant."""
    clock = TickingClock(START)
    config = load_config_data({
        "monitor": {"database": str(tmp_path / "m.db"), "poll_interval": "10m"},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": "desk", "url": URL}],
        "notifiers": [{"name": "n", "type": "file", "path": str(tmp_path / "n.log")}]})
    app = build_app(config, clock=clock)
    app.pipeline.fetcher = fetcher  # type: ignore[assignment]
    try:
        fetcher.body(URL, rss(("1", RECOGNITION)))
        before = clock.readings
        assert poll(app) == "ok"
        assert clock.readings - before == 1
        state = app.store.source_state("desk")
        assert state.last_fetch_at == state.last_success_at == clock.now
        assert state.next_poll_at is not None and state.next_poll_at > clock.now
        stories = app.store.recent_stories("t", START)
        assert [s.seen_at for s in stories] == [clock.now]
    finally:
        app.close()
