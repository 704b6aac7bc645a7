"""The article stage inside a poll, with a FakeFetcher and a real store: no server.

Loopback end-to-end tests (real HTTP, robots.txt, address checks, caps) are in
test_articles_e2e.py; here the budget, the cache and failures are checked against answers
the test programs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.app import App, build_app
from monitor.articles import ArticleReader
from monitor.config import load_config_data
from monitor.deliver import Deliverer
from monitor.errors import FetchError
from monitor.types import ArticleCounts, Digest
from tests.article_pages import article_page
from tests.fakes import FakeFetcher, FixedClock, RecordingNotifier

START = datetime(2025, 11, 4, 8, 30, tzinfo=UTC)
VAGUE = "Taliban delegation lands in Ruritania for a two-day visit"
EVENT = "Ruritania formally recognised the Taliban government on Tuesday, its ministry said."
DULL = "The delegation toured a new hospital wing and met traders in the old market."
CLEAR = "Uruguay formally recognises the Taliban government of Afghanistan"


def rss(host: str, *items: tuple[str, str]) -> bytes:
    """items: (guid, title), undated, linked under ``host``."""
    body = "".join(f"<item><guid>{g}</guid><link>https://{host}/{g}</link>"
                   f"<title>{t}</title></item>" for g, t in items)
    return f'<rss version="2.0"><channel><title>Desk</title>{body}</channel></rss>'.encode()


class Robots:
    """A robots.txt policy that disallows the paths given, and asks for no delay."""

    def __init__(self, disallowed: tuple[str, ...] = ()) -> None:
        self.disallowed = disallowed
        self.asked: list[tuple[str, bool]] = []

    def allowed(self, url: str, *, public_only: bool = False) -> bool:
        self.asked.append((url, public_only))
        return not any(part in url for part in self.disallowed)

    def crawl_delay(self, url: str) -> float | None:
        return None


def make_app(tmp_path: Path, clock: FixedClock, fetcher: FakeFetcher,
             database: str | None = None, **monitor: Any) -> App:
    config = load_config_data({
        "monitor": {"database": database or str(tmp_path / "m.db"), "poll_interval": "10m",
                    "min_host_interval": "0s", **monitor},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": "desk", "url": "https://desk.example/feed.xml"},
                    {"name": "wire", "url": "https://wire.example/feed.xml"}],
        "notifiers": [{"name": "n", "type": "file", "path": str(tmp_path / "n.log")}]})
    app = build_app(config, clock=clock)
    app.pipeline.fetcher = fetcher  # type: ignore[assignment]  # the seam: a fake network
    if app.pipeline.articles is not None:
        reader = app.pipeline.articles
        assert isinstance(reader, ArticleReader)
        reader.fetcher = fetcher
        reader.robots = Robots()
    return app


@pytest.fixture()
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture()
def fetcher() -> FakeFetcher:
    return FakeFetcher()


@pytest.fixture()
def app(tmp_path: Path, clock: FixedClock, fetcher: FakeFetcher, database: str):
    """The app on each store backend: the article cache and its counts are the store's."""
    app = make_app(tmp_path, clock, fetcher, database)
    try:
        yield app
    finally:
        app.close()


def reader(app: App) -> ArticleReader:
    assert isinstance(app.pipeline.articles, ArticleReader)
    return app.pipeline.articles


def poll(app: App, name: str = "desk") -> str:
    source = next(s for s in app.config.sources if s.name == name)
    outcome = app.pipeline.poll(source)
    app.pipeline.flush()
    return outcome.status


def deliver(app: App, clock: FixedClock) -> list[Digest]:
    notifier = RecordingNotifier("n")
    Deliverer(app.store, {"n": notifier}, {"n": app.config.notifiers[0]}, clock).flush("n")
    return notifier.sent


def counts(app: App) -> ArticleCounts:
    return app.store.article_counts(START - timedelta(days=1))


def test_a_vague_headline_alerts_on_its_article_and_a_clear_one_is_not_read(
        app: App, fetcher: FakeFetcher, clock: FixedClock) -> None:
    fetcher.body("https://desk.example/feed.xml", rss("desk.example", ("1", VAGUE),
                                                      ("2", CLEAR)))
    fetcher.body("https://desk.example/1", article_page(VAGUE, [DULL, EVENT]),
                 {"Content-Type": "text/html; charset=utf-8"})
    assert poll(app) == "ok"
    sent = deliver(app, clock)
    stories = {s.title: s for d in sent for s in d.stories}
    assert set(stories) == {VAGUE, CLEAR}
    assert stories[VAGUE].evidence == EVENT
    assert stories[VAGUE].evidence_source == "article"
    assert stories[CLEAR].evidence_source == "headline"
    assert [c.url for c in fetcher.calls] == ["https://desk.example/feed.xml",
                                              "https://desk.example/1"]
    assert counts(app) == ArticleCounts(fetched=1)


def test_an_article_on_another_host_must_be_public_and_obeys_robots(
        app: App, fetcher: FakeFetcher) -> None:
    fetcher.body("https://desk.example/feed.xml", rss("other.example", ("1", VAGUE)))
    fetcher.body("https://other.example/1", article_page(VAGUE, [EVENT]))
    reader(app).robots = robots = Robots(disallowed=("/nothing",))
    poll(app)
    call = fetcher.calls_to("https://other.example/1")[0]
    assert call.public_only and call.purpose == "article at"
    assert robots.asked == [("https://other.example/1", True)]


def test_robots_disallow_is_a_failed_read_and_nothing_is_fetched(
        app: App, fetcher: FakeFetcher, clock: FixedClock) -> None:
    fetcher.body("https://desk.example/feed.xml", rss("desk.example", ("1", VAGUE)))
    fetcher.body("https://desk.example/1", article_page(VAGUE, [EVENT]))
    reader(app).robots = Robots(disallowed=("/1",))
    assert poll(app) == "ok"
    assert fetcher.calls_to("https://desk.example/1") == []
    assert deliver(app, clock) == []
    assert counts(app) == ArticleCounts(failed=1)


@pytest.mark.parametrize("answer", [
    {"raises": FetchError("HTTP 503 Service Unavailable", status=503)},
    {"raises": FetchError("body larger than 10485760 bytes")},
    {"raises": FetchError("timed out after 60s (total deadline)")},
    {"body": b"%PDF-1.7 not a page", "headers": {"Content-Type": "application/pdf"}},
    {"body": b"<html><body></body></html>", "headers": {"Content-Type": "text/html"}},
])
def test_a_failing_article_never_fails_the_poll(
        app: App, fetcher: FakeFetcher, clock: FixedClock, answer: dict[str, Any]) -> None:
    fetcher.body("https://desk.example/feed.xml", rss("desk.example", ("1", VAGUE),
                                                      ("2", CLEAR)))
    if "raises" in answer:
        fetcher.raises("https://desk.example/1", answer["raises"])
    else:
        fetcher.body("https://desk.example/1", answer["body"], answer["headers"])
    assert poll(app) == "ok"
    assert app.store.source_state("desk").last_new == 2        # both items recorded
    assert [s.title for d in deliver(app, clock) for s in d.stories] == [CLEAR]
    assert counts(app) == ArticleCounts(failed=1)


def test_an_extractor_crash_is_a_failed_read(
        app: App, fetcher: FakeFetcher, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_args: object, **_kw: object) -> str:
        raise RecursionError("maximum recursion depth exceeded")
    monkeypatch.setattr("monitor.articles.extract_text", crash)
    fetcher.body("https://desk.example/feed.xml", rss("desk.example", ("1", VAGUE)))
    fetcher.body("https://desk.example/1", article_page(VAGUE, [EVENT]))
    assert poll(app) == "ok"
    assert counts(app) == ArticleCounts(failed=1)


def test_the_budget_holds_across_sources_and_renews_each_poll_interval(
        tmp_path: Path, fetcher: FakeFetcher, clock: FixedClock, database: str) -> None:
    app = make_app(tmp_path, clock, fetcher, database, article_budget=3)
    try:
        for name in ("desk", "wire"):
            host = f"{name}.example"
            fetcher.body(f"https://{host}/feed.xml",
                         rss(host, *((str(n), f"{VAGUE} ({n})") for n in range(2))))
            for n in range(4):
                fetcher.body(f"https://{host}/{n}", article_page(VAGUE, [DULL]))
        poll(app, "desk")
        poll(app, "wire")
        articles = [c.url for c in fetcher.calls if not c.url.endswith("feed.xml")]
        assert len(articles) == 3
        assert counts(app) == ArticleCounts(fetched=3, skipped=1)

        clock.advance(timedelta(minutes=10))                   # the next cycle
        fetcher.body("https://wire.example/feed.xml",
                     rss("wire.example", *((str(n), f"{VAGUE} ({n})") for n in range(4))))
        poll(app, "wire")
        assert counts(app) == ArticleCounts(fetched=5, skipped=1)
    finally:
        app.close()


def test_a_copy_of_the_article_is_read_from_the_cache_and_joins_its_story(
        app: App, fetcher: FakeFetcher, clock: FixedClock) -> None:
    fetcher.body("https://desk.example/feed.xml", rss("news.example", ("1", VAGUE)))
    fetcher.body("https://news.example/1", article_page(VAGUE, [EVENT]))
    poll(app, "desk")
    fetcher.body("https://wire.example/feed.xml",
                 rss("news.example", ("1?utm_source=wire", "Taliban envoys in Ruritania")))
    poll(app, "wire")
    assert len(fetcher.calls_to("https://news.example/1")) == 1
    assert fetcher.calls_to("https://news.example/1?utm_source=wire") == []
    assert counts(app) == ArticleCounts(fetched=1, from_cache=1)
    stories = [s for d in deliver(app, clock) for s in d.stories]
    assert len(stories) == 1
    assert {s.source for s in stories[0].sources} == {"desk", "wire"}


def test_a_failed_read_is_cached_for_a_while(
        app: App, fetcher: FakeFetcher, clock: FixedClock) -> None:
    fetcher.body("https://desk.example/feed.xml", rss("news.example", ("1", VAGUE)))
    fetcher.raises("https://news.example/1", FetchError("HTTP 503 Service Unavailable"))
    poll(app, "desk")
    fetcher.body("https://wire.example/feed.xml", rss("news.example", ("1", VAGUE)))
    poll(app, "wire")                               # within the hour: the failure serves
    assert len(fetcher.calls_to("https://news.example/1")) == 1
    assert counts(app) == ArticleCounts(failed=1, from_cache=1)


def test_never_reads_no_article(tmp_path: Path, fetcher: FakeFetcher,
                                clock: FixedClock) -> None:
    app = make_app(tmp_path, clock, fetcher, fetch_articles="never")
    try:
        assert app.pipeline.articles is None
        fetcher.body("https://desk.example/feed.xml", rss("desk.example", ("1", VAGUE)))
        fetcher.body("https://desk.example/1", article_page(VAGUE, [EVENT]))
        assert poll(app) == "ok"
        assert fetcher.calls_to("https://desk.example/1") == []
        assert deliver(app, clock) == []
    finally:
        app.close()


def test_all_reads_items_that_do_not_name_the_entity(
        tmp_path: Path, fetcher: FakeFetcher, clock: FixedClock) -> None:
    app = make_app(tmp_path, clock, fetcher, fetch_articles="all")
    try:
        fetcher.body("https://desk.example/feed.xml",
                     rss("desk.example", ("1", "A quiet week for the envoys of the region")))
        fetcher.body("https://desk.example/1", article_page("x", [EVENT]))
        poll(app)
        assert len(fetcher.calls_to("https://desk.example/1")) == 1
        assert [s.evidence for d in deliver(app, clock) for s in d.stories] == [EVENT]
    finally:
        app.close()
