"""A source's error is stored as a kind beside its message; health decides on the kind."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor import report
from monitor.app import build_app
from monitor.config import load_config_data
from monitor.health import health_changes
from monitor.store.schema import MIGRATIONS
from monitor.store.sqlite import SqliteStore
from monitor.types import ErrorKind, SourceState
from tests.fakes import FixedClock
from tests.loopback import LoopbackHTTPServer, Response

NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
OPS = {"ops": 6 * HOUR}


def failing(error: str, kind: ErrorKind | None) -> SourceState:
    return SourceState(name="s", url="https://x.example/", first_polled_at=NOW - 2 * HOUR,
                       last_success_at=NOW - 2 * HOUR, consecutive_failures=3,
                       failing_since=NOW - HOUR, last_error=error, last_status="error",
                       last_error_kind=kind)


def kinds(state: SourceState) -> set[tuple[str, str]]:
    return {(c.kind, c.action) for c in health_changes(state, NOW, HOUR, [], OPS)}


def test_a_message_saying_matched_nothing_is_no_selector_error_by_itself() -> None:
    fetch = failing("FetchError: HTTP 404 (search for 'harbour strike' matched nothing)",
                    "fetch")
    assert kinds(fetch) == {("failing", "open")}
    parse = failing("ParseError: rss parser failed: the query matched nothing", "parse")
    assert kinds(parse) == {("failing", "open")}


def test_a_selector_error_is_a_selector_incident_whatever_its_message() -> None:
    assert kinds(failing("ParseError: item_selector 'li.news' matched nothing", "selector")) \
        == {("selector", "open"), ("selector", "alert")}
    assert kinds(failing("SelectorError: no items on the page", "selector")) \
        == {("selector", "open"), ("selector", "alert")}


def test_polls_store_what_failed(tmp_path: Path) -> None:
    with LoopbackHTTPServer() as http:
        http.route("/list.html", Response(body=b"<html><body><p>Quiet harbour, no news "
                                               b"today</p></body></html>"))
        http.route("/feed.xml", Response(status=503, body=b"busy"))
        http.route("/old.xml", Response(status=410, body=b"gone"))
        config = load_config_data({
            "monitor": {"database": str(tmp_path / "m.db"), "min_host_interval": "0s"},
            "topics": [{"name": "t", "event": "recognition"}],
            "sources": [{"name": "Page", "url": http.url("/list.html"), "type": "page",
                         "item_selector": "article", "link_selector": "a"},
                        {"name": "Feed", "url": http.url("/feed.xml")},
                        {"name": "Old", "url": http.url("/old.xml")}],
            "notifiers": [{"name": "ops", "type": "file", "path": str(tmp_path / "ops.log"),
                           "operator": True}]})
        app = build_app(config, clock=FixedClock())
        try:
            for source in config.sources:
                app.pipeline.poll(source)
            app.pipeline.flush()
            stored = {s.name: s.last_error_kind for s in app.store.source_states()}
            assert stored == {"Page": "selector", "Feed": "fetch", "Old": "gone"}
            assert {i.kind for i in app.store.open_incidents("Page")} == {"selector"}
            assert {i.kind for i in app.store.open_incidents("Feed")} == {"failing"}
        finally:
            app.close()


def test_migration_gives_older_rows_their_kind(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:4]:
        db.executescript(migration)
    rows = [("page", "ParseError: item_selector 'article' matched nothing", 2, 0),
            ("feed", "FetchError: HTTP 500", 3, 0),
            ("rss", "ParseError: not a feed", 1, 0),
            ("dead", "FetchError: HTTP 410", 5, 1),
            ("bug", "KeyError: 'title'", 1, 0),
            ("fine", None, 0, 0)]
    for name, error, failures, gone in rows:
        db.execute("INSERT INTO sources (name, config_url, url, last_error, "
                   "consecutive_failures, failing_since, gone) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (name, f"https://{name}.example/", f"https://{name}.example/", error,
                    failures, NOW.isoformat() if failures else None, gone))
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()
    store = SqliteStore(str(path))
    try:
        states = {s.name: s for s in store.source_states()}
    finally:
        store.close()
    assert {n: s.last_error_kind for n, s in states.items()} == {
        "page": "selector", "feed": "fetch", "rss": "parse", "dead": "gone", "bug": "crash",
        "fine": None}
    # The page keeps its health verdict: a selector incident, not a failing one.
    assert kinds(states["page"]) == {("selector", "open"), ("selector", "alert")}
    assert kinds(states["feed"]) == {("failing", "open")}


def test_status_shows_what_failed_beside_the_message() -> None:
    config = load_config_data({
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": "s", "url": "https://x.example/"},
                    {"name": "calm", "url": "https://calm.example/"}]})
    states = [failing("ParseError: item_selector 'article' matched nothing", "selector"),
              SourceState(name="calm", url="https://calm.example/", first_polled_at=NOW,
                          last_success_at=NOW, last_status="ok")]
    header, failed, calm = report.status_table(config, states, NOW).splitlines()[:3]
    kind_at, error_at = header.index("ERROR KIND"), header.index("LAST ERROR")
    assert failed[kind_at:error_at].strip() == "selector"
    assert failed[error_at:].startswith("ParseError: item_selector")
    assert calm[kind_at:].strip() == ""
    document = json.loads(report.status_json(config, states, NOW, []))
    assert [(s["last_error_kind"], s["last_error"]) for s in document["sources"]] == [
        ("selector", "ParseError: item_selector 'article' matched nothing"), (None, None)]


def test_a_receivers_escape_sequence_never_reaches_the_terminal_through_status() -> None:
    """A stored message is shown by the one-line rule of alerts: no control character
    (a terminal escape here), no line break, cut with an ellipsis."""
    config = load_config_data({"topics": [{"name": "t", "event": "recognition"}],
                               "sources": [{"name": "s", "url": "https://x.example/"}]})
    message = "FetchError: HTTP 500: \x1b[2J\x1b[31mcleared\r\nscreen " + "x" * 200
    table = report.status_table(config, [failing(message, "fetch")], NOW)
    assert "\x1b" not in table and "\r" not in table and len(table.splitlines()) == 2
    assert "FetchError: HTTP 500: [2J[31mcleared screen x" in table and table.endswith("…")
