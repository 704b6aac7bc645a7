"""Stories across polls: a flood neither slows nor holds the other sources, and is capped.

Real loopback feeds and a real SQLite file; a flood poll is held inside grouping (or
between grouping and its commit) by a hook, and the tests wait on events with deadlines.
The hooks are in the daemon's process: those apps sift and commit there (`workers = 1`).
Where worker processes commit, the test holds the store's record lock itself, and lets
it go once every poll waits for it (tests/test_worker_commits.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from html import escape
from pathlib import Path
from urllib.parse import quote

import pytest

from monitor import report, stories
from monitor.app import App, build_app
from monitor.config import SourceConfig, load_config_data
from monitor.decide import health
from monitor.types import PollOutcome
from tests.fakes import FixedClock
from tests.loopback import LoopbackHTTPServer, Response, RssFeed

NORWAY = "Norway accepts the credentials of the Taliban's ambassador"
DEADLINE = 20.0


class Feed(RssFeed):
    """A feed whose items the test changes between polls: (guid, title)."""

    def flood(self, start: int, count: int) -> None:
        """Distinct stories (the numbers clash), all matching the topic."""
        self.items = [(f"deal-{n}", f"Russia accepts the Taliban's ambassador in deal no. {n}")
                      for n in range(start, start + count)]

    def quiet(self, start: int, count: int = 2) -> None:
        self.items = [(f"market-{n}", f"Kabul market bulletin {n}: bread and fuel prices")
                      for n in range(start, start + count)]


@pytest.fixture()
def server():
    with LoopbackHTTPServer() as http:
        yield http


def make_app(tmp_path: Path, feeds: dict[str, Feed], database: str | None = None,
             **monitor: object) -> App:
    config = load_config_data({
        # the items link to news.example, which nobody serves
        "monitor": {"database": database or str(tmp_path / "m.db"), "min_host_interval": "0s",
                    "fetch_articles": "never", "workers": 1, **monitor},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": name, "url": feed.url} for name, feed in feeds.items()],
        "notifiers": [{"name": "desk", "type": "file", "path": str(tmp_path / "desk.log")},
                      {"name": "ops", "type": "file", "path": str(tmp_path / "ops.log"),
                       "operator": True}]})
    return build_app(config, clock=FixedClock())


def outbox(app: App) -> list[str]:
    return [r["title"] for r in app.store._query(
        "SELECT s.title FROM outbox o JOIN stories s ON s.id = o.story_id ORDER BY o.id")]


def in_thread(name: str, work: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(work()), name=name, daemon=True)
    thread.start()
    return thread, result


def hold_after_grouping(app: App, thread: str) -> tuple[threading.Event, threading.Event]:
    """The poll made in the thread named ``thread`` waits between its grouping and its
    commit: (set once it waits, to set to let it go on)."""
    grouped, release = threading.Event(), threading.Event()
    group = app.pipeline.grouper.group

    def held(*args):
        decided = group(*args)
        if threading.current_thread().name == thread:
            grouped.set()
            release.wait(DEADLINE)
        return decided

    app.pipeline.grouper.group = held  # type: ignore[method-assign]
    return grouped, release


def poll_while_held(app: App, held: SourceConfig, meanwhile: SourceConfig) -> PollOutcome:
    """Poll ``held`` in a thread of its own that waits between its grouping and its commit
    while ``meanwhile`` is polled (which must succeed); the held poll's outcome."""
    grouped, release = hold_after_grouping(app, held.name)
    try:
        polling, result = in_thread(held.name, lambda: app.pipeline.poll(held))
        assert grouped.wait(DEADLINE)
        assert app.pipeline.poll(meanwhile).status == "ok"
    finally:
        release.set()
    polling.join(DEADLINE)
    outcome = result[0]
    assert isinstance(outcome, PollOutcome)
    return outcome


def test_a_healthy_poll_completes_while_a_flood_poll_is_inside_grouping(
        tmp_path: Path, database: str, server, monkeypatch) -> None:
    flood, healthy = Feed(server, "/flood.xml"), Feed(server, "/healthy.xml")
    flood.flood(1, 40)
    healthy.items = [("n1", NORWAY)]
    app = make_app(tmp_path, {"flood": flood, "healthy": healthy}, database)
    inside, release = threading.Event(), threading.Event()
    score = stories._score

    def held(*args, **kwargs):  # the flood poll's first comparison waits for the test
        if threading.current_thread().name == "flood" and not inside.is_set():
            inside.set()
            release.wait(DEADLINE)
        return score(*args, **kwargs)

    monkeypatch.setattr(stories, "_score", held)
    flood_source, healthy_source = app.config.sources
    try:
        flooding, flood_result = in_thread("flood", lambda: app.pipeline.poll(flood_source))
        assert inside.wait(DEADLINE)
        polling, healthy_result = in_thread("healthy",
                                            lambda: app.pipeline.poll(healthy_source))
        polling.join(DEADLINE)
        assert not polling.is_alive(), "the healthy poll waited for the flood poll"
        assert healthy_result[0].status == "ok" and outbox(app) == [NORWAY]
        release.set()
        flooding.join(DEADLINE)
        assert flood_result[0].status == "ok" and len(outbox(app)) == 41
    finally:
        release.set()
        app.close()


def test_two_outlets_grouped_at_once_still_make_one_story(tmp_path: Path, database: str,
                                                          server) -> None:
    """a groups its two copies of the story; b commits the story before a commits: a's
    copies join b's story (the one copy through the other) and nothing alerts twice."""
    a, b = Feed(server, "/a.xml"), Feed(server, "/b.xml")
    a.items = [("a1", NORWAY), ("a2", f"UPDATE 1-{NORWAY} - Fjord Times")]
    b.items = [("b1", f"{NORWAY} | Oslo Wire")]
    app = make_app(tmp_path, {"a": a, "b": b}, database)
    try:
        poll_while_held(app, *app.config.sources)
        rows = app.store._query("SELECT story_id, COUNT(*) AS n FROM story_items "
                                "GROUP BY story_id")
        assert [r["n"] for r in rows] == [3]
        assert outbox(app) == [f"{NORWAY} | Oslo Wire"]
    finally:
        app.close()


def test_one_step_in_two_languages_grouped_at_once_is_one_story(tmp_path: Path,
                                                                server) -> None:
    """The Russian outlet's poll groups its report (no story yet), the English outlet's
    commits the story of the same step meanwhile: the Russian report joins it at settle,
    though the headlines share no word (same step, same state, another language)."""
    ru, en = Feed(server, "/ru.xml"), Feed(server, "/en.xml")
    ru.items = [("r1", "Россия официально признала правительство движения Талибан")]
    en.items = [("e1", "Moscow formally recognises Taliban-run Afghanistan")]
    app = make_app(tmp_path, {"ru": ru, "en": en})
    try:
        poll_while_held(app, *app.config.sources)
        rows = app.store._query("SELECT story_id, COUNT(*) AS n FROM story_items "
                                "GROUP BY story_id")
        assert [r["n"] for r in rows] == [2]
        assert outbox(app) == ["Moscow formally recognises Taliban-run Afghanistan"]
    finally:
        app.close()


def test_a_flooding_source_is_flagged_capped_and_reported_once(tmp_path: Path, database: str,
                                                               server) -> None:
    wire = Feed(server, "/wire.xml")
    app = make_app(tmp_path, {"wire": wire}, database, max_new_per_poll=10)
    source = app.config.sources[0]
    try:
        for poll in range(5):                       # its usual: two new items a poll
            wire.quiet(poll * 2)
            assert app.pipeline.poll(source).capped == 0
        wire.flood(1, 80)
        outcome = app.pipeline.poll(source)
        assert (outcome.new, outcome.capped) == (80, 70)
        assert len(outbox(app)) == 10               # the cap: ten stories alerted
        assert app.store._query("SELECT COUNT(*) AS n FROM items WHERE guid LIKE 'deal-%' "
                                "AND NOT alert")[0]["n"] == 70   # the rest recorded as seen
        state = app.store.source_state("wire")
        assert health(state, app.clock(), app.config.interval(source)) == "flooding"
        table = report.status_table(app.config, [state], app.clock())
        assert "flooding" in table and "70 past max_new_per_poll (10)" in table
        wire.flood(81, 80)
        assert app.pipeline.poll(source).capped == 70
        assert app.pipeline.poll(source).status == "unchanged"   # still flooding
        assert app.store.source_state("wire").flooding_since is not None
        app.deliverer.flush_all()
        ops = (tmp_path / "ops.log").read_text()
        assert ops.count("delivery id") == 1        # one alert for the flood, not per poll
        assert "Source 'wire' is flooding since" in ops and "80 new items" in ops
        wire.quiet(100)
        assert app.pipeline.poll(source).capped == 0
        assert app.store.source_state("wire").flooding_since is None
        app.deliverer.flush_all()
        ops = (tmp_path / "ops.log").read_text()
        assert ops.count("delivery id") == 2
        assert "Recovered: source 'wire' brings its usual number of new items again" in ops
        assert len(outbox(app)) == 20               # ten a flood poll; quiet items match nothing
    finally:
        app.close()


RUSSIA = "Russia accepts the credentials of the Taliban's ambassador"
NEIGHBOUR = "Belarus, its neighbour, is weighing the same step."   # names Belarus, not acting
BOTH = "Russia and Belarus accept the credentials of the Taliban's ambassador"
BELARUS = "Belarus accepts the credentials of the Taliban's ambassador"


class DescribedFeed(Feed):
    """A feed whose items carry a description: (guid, title, description)."""

    def __init__(self, server: LoopbackHTTPServer, path: str) -> None:
        super().__init__(server, path)
        self.described: list[tuple[str, str, str]] = []

    def entries(self) -> list[tuple[str, str]]:
        return [(guid, title) for guid, title, _ in self.described]

    def _serve(self, _request: object) -> Response:
        body = "".join(f"<item><guid>{escape(g)}</guid><title>{escape(t)}</title>"
                       f"<description>{escape(d)}</description>"
                       f"<link>https://news.example/{quote(g, safe='')}</link></item>"
                       for g, t, d in self.described)
        return Response(body=f'<rss version="2.0"><channel><title>F</title>{body}'
                             f"</channel></rss>".encode())


def story_sizes(app: App) -> list[int]:
    return [r["n"] for r in app.store._query(
        "SELECT story_id, COUNT(*) AS n FROM story_items GROUP BY story_id ORDER BY story_id")]


def widening_feeds(server) -> dict[str, Feed]:
    """x reports Russia's step, naming Belarus; y, Russia's and Belarus's (it widens x's
    story to Belarus); z, Belarus's alone; w, Norway's (another story)."""
    x = DescribedFeed(server, "/x.xml")
    x.described = [("x1", RUSSIA, NEIGHBOUR)]
    feeds: dict[str, Feed] = {"x": x}
    for name, title in (("y", BOTH), ("z", BELARUS), ("w", NORWAY)):
        feeds[name] = Feed(server, f"/{name}.xml")
        feeds[name].items = [(f"{name}1", title)]
    return feeds


def test_a_report_of_a_state_that_a_story_gained_since_it_was_grouped_joins_the_story(
        tmp_path: Path, database: str, server) -> None:
    """z's poll groups its Belarus report while Russia's story names Russia alone as
    acting (no story to join: z would open one); y's poll then widens that story to Belarus
    and commits. z's report joins the widened story at settle: one story, one alert."""
    app = make_app(tmp_path, widening_feeds(server), database)
    source_x, source_y, source_z, _ = app.config.sources
    try:
        assert app.pipeline.poll(source_x).status == "ok"
        poll_while_held(app, source_z, source_y)
        assert story_sizes(app) == [3]
        assert outbox(app) == [RUSSIA]
    finally:
        app.close()


def test_a_node_joins_a_report_to_a_story_that_another_node_widened(
        tmp_path: Path, postgres: str, server) -> None:
    """Two nodes on one database: the second knows Russia's story as Russia's alone when
    the first widens it to Belarus; the second's Belarus report still joins it."""
    feeds = widening_feeds(server)
    first = make_app(tmp_path, feeds, postgres)
    second = make_app(tmp_path, feeds, postgres)
    source_x, source_y, source_z, source_w = first.config.sources
    try:
        assert first.pipeline.poll(source_x).status == "ok"
        assert second.pipeline.poll(source_w).status == "ok"   # reads Russia's story
        assert first.pipeline.poll(source_y).status == "ok"    # widens it to Belarus
        assert second.pipeline.poll(source_z).status == "ok"
        assert story_sizes(first) == [3, 1]
        assert outbox(first) == [RUSSIA, NORWAY]
    finally:
        second.close()
        first.close()


def test_the_pipeline_records_the_items_settle_caps_as_capped(tmp_path: Path, database: str,
                                                             server) -> None:
    """Settle may cap items group did not (a poll regrouped there; here, settle is made
    to cap wire's second item): the pipeline records them as capped (seen, no alert, no
    story), counts them, and hands settle the items still new after its re-check of their
    links (another source stored wire's third item's link meanwhile)."""
    wire, other = Feed(server, "/wire.xml"), Feed(server, "/other.xml")
    wire.flood(1, 3)
    other.items = [wire.items[2]]          # the same link as wire's third item
    app = make_app(tmp_path, {"wire": wire, "other": other}, database)
    settle, handed = app.pipeline.grouper.settle, []

    def capping(grouping, now, fresh):
        handed.append(fresh)
        settled = settle(grouping, now, fresh)
        return replace(settled, capped=frozenset({1}),
                       decisions=tuple(d for d in settled.decisions if d.item != 1))

    app.pipeline.grouper.settle = capping  # type: ignore[method-assign]
    try:
        # other stores the link of wire's third item first
        outcome = poll_while_held(app, *app.config.sources)
        assert handed == [frozenset({0}), frozenset({0, 1})]   # wire's third: a duplicate
        assert (outcome.new, outcome.capped) == (2, 1)
        assert app.store.source_state("wire").last_capped == 1
        assert [r["guid"] for r in app.store._query(
            "SELECT guid FROM items WHERE NOT alert ORDER BY id")] == ["deal-2", "deal-3"]
        assert story_sizes(app) == [2, 1]      # other's story, with wire's copy; wire's first
    finally:
        app.close()


def test_a_link_another_source_stores_meanwhile_takes_its_copy_into_that_story(
        tmp_path: Path, database: str, server) -> None:
    """wire's item does not match; while its poll waits between grouping and commit, other
    stores a matching report with the same link. wire's item is then a copy: recorded
    without alert and joined to other's story (on PostgreSQL its row went in before the
    record lock, as alerting, and is brought up to the final decision)."""
    wire, other = Feed(server, "/wire.xml"), Feed(server, "/other.xml")
    wire.items = [("shared-link", "Kabul market bulletin: bread and fuel prices")]
    other.items = [("shared-link", NORWAY)]        # the same guid: the same link
    app = make_app(tmp_path, {"wire": wire, "other": other}, database)
    try:
        outcome = poll_while_held(app, *app.config.sources)
        assert outcome.status == "ok" and outcome.new == 0
        assert [(r["source"], bool(r["alert"])) for r in app.store._query(
            "SELECT source, alert FROM items ORDER BY id")] == [("other", True),
                                                              ("wire", False)]
        assert story_sizes(app) == [2]
        assert outbox(app) == [NORWAY]
    finally:
        app.close()


def test_a_poll_whose_commit_fails_after_grouping_keeps_none_of_its_items(
        tmp_path: Path, database: str, server) -> None:
    """On PostgreSQL a poll's items go in before it settles its stories: a failure there
    rolls them back with the rest, and the failure is recorded on the source."""
    wire = Feed(server, "/wire.xml")
    wire.items = [("n1", NORWAY), ("m1", "Kabul market bulletin: bread and fuel prices")]
    app = make_app(tmp_path, {"wire": wire}, database)

    def broken(*_args):
        raise RuntimeError("settle broke")

    app.pipeline.grouper.settle = broken  # type: ignore[method-assign]
    try:
        outcome = app.pipeline.poll(app.config.sources[0])
        assert outcome.status == "error" and "settle broke" in (outcome.error or "")
        assert app.store._query("SELECT guid FROM items") == []
        assert app.store.source_state("wire").last_error == "RuntimeError: settle broke"
    finally:
        app.close()
