"""The store on both backends (migrations, one-transaction polls, locking for SQLite) and
outbox delivery."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.commit import commit_poll, sync_sources
from monitor.config import WebhookNotifierConfig, load_config_data
from monitor.decide import canonical_url
from monitor.deliver import RETRY_AFTER_MAX, RETRY_BASE, RETRY_MAX, Deliverer, next_attempt
from monitor.errors import NotifyError, StoreError
from monitor.notify import WebhookNotifier
from monitor.outbox import Outbox, Reschedule
from monitor.retention import dedup_key
from monitor.store import SqliteStore, Store, acquire_daemon_lock, open_store, sqlite_poll
from monitor.store.schema import SCHEMA_VERSION
from monitor.types import (
    Classification,
    Digest,
    NewItem,
    ParsedItem,
    PollRecord,
    SourceState,
    StoryDecision,
)
from tests.fakes import FixedClock, RecordingNotifier, temp_store
from tests.loopback import LoopbackHTTPServer, RecordedRequest, Response

NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)


def make_store(tmp_path: Path, database: str | None = None) -> Store:
    """A store with one source, "wire": on a SQLite file in tmp_path, or on ``database``."""
    return temp_store(tmp_path, [("wire", "https://wire.example/rss")], NOW, database)


def verdict(category: str = "recognition_step") -> Classification:
    return Classification(topic="t", match=True, score=0.9, category=category,
                          actors=("Russia",), evidence="Evidence.", rules=("r",))


def poll_with_story(store: Store, guid: str, subscribers: dict) -> None:
    state = store.source_state("wire")
    item = ParsedItem(guid=guid, url=f"https://wire.example/{guid}", title=f"Story {guid}")
    record = PollRecord(state, (NewItem(item, item.url),), (StoryDecision(0, "t", verdict()),))
    commit_poll(store, record, subscribers, NOW)


def test_schema_version_and_newer_database_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.close()
    db = sqlite3.connect(tmp_path / "m.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer than this news-monitor"):
        SqliteStore(str(tmp_path / "m.db"))


def test_second_daemon_refused(tmp_path: Path) -> None:
    database = str(tmp_path / "m.db")
    held = acquire_daemon_lock(database)
    with pytest.raises(StoreError, match="in use by another monitor"):
        acquire_daemon_lock(database)
    held.close()
    acquire_daemon_lock(database).close()


@pytest.mark.parametrize("alias", ["file", "folder"])
def test_a_symlink_to_the_database_takes_the_same_lock(tmp_path: Path, alias: str) -> None:
    """The lock was keyed by the path as written, so a daemon started on a
    symlink to the database ran beside one started on the file. Two real processes here."""
    real = tmp_path / "data" / "monitor.db"
    real.parent.mkdir()
    SqliteStore(str(real)).close()
    if alias == "file":
        (tmp_path / "elsewhere").mkdir()
        other = tmp_path / "elsewhere" / "link.db"
        other.symlink_to(real)
    else:
        (tmp_path / "alias").symlink_to(real.parent, target_is_directory=True)
        other = tmp_path / "alias" / "monitor.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from monitor.store import acquire_daemon_lock; "
         f"lock = acquire_daemon_lock({str(real)!r}); print('held', flush=True); "
         "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(StoreError, match=f"in use by another monitor \\(pid {holder.pid}"):
            acquire_daemon_lock(str(other))
    finally:
        holder.communicate(timeout=30)      # closes its stdin: it exits, the lock goes
    acquire_daemon_lock(str(other)).close()


@pytest.mark.parametrize("place", ["under a file", "under /proc"])
def test_a_database_place_that_cannot_be_written_is_a_store_error(tmp_path: Path,
                                                                  place: str) -> None:
    """Not an OSError traceback: one StoreError naming the database and the reason."""
    if place == "under a file":
        (tmp_path / "notes.txt").write_text("a file, not a folder")
        database = str(tmp_path / "notes.txt" / "monitor.db")
    else:
        database = f"/proc/{os.getpid()}/news-monitor/monitor.db"
    with pytest.raises(StoreError, match="^database .*monitor.db: ") as caught:
        acquire_daemon_lock(database)
    assert "\n" not in str(caught.value)
    with pytest.raises(StoreError, match="^database .*monitor.db: "):
        SqliteStore(database)


def test_poll_is_one_transaction(tmp_path: Path, database: str) -> None:
    store = make_store(tmp_path, database)
    state = store.source_state("wire")
    good = ParsedItem(guid="1", url="https://wire.example/1", title="One")
    record = PollRecord(state, (NewItem(good, good.url),),
                        (StoryDecision(0, "t", verdict()), StoryDecision(5, "t", verdict())))
    with pytest.raises(IndexError):  # a bad record fails midway ...
        commit_poll(store, record, {"t": ["n"]}, NOW)
    assert store.known_guids("wire", ["1"]) == set()  # ... and nothing of it stays
    poll_with_story(store, "1", {"t": ["n"]})
    assert store.known_guids("wire", ["1", "2"]) == {"1"}
    assert [s.title for s in store.matches(NOW - timedelta(days=1))] == ["Story 1"]


def keep_keys(database: str, keys: list[int]) -> None:
    """Dedup keys as retention keeps them when it deletes items (seen_keys)."""
    if database.startswith("postgresql"):
        import psycopg

        with psycopg.connect(database, autocommit=True) as pg:
            pg.execute("INSERT INTO seen_keys (key) SELECT unnest(%s::bigint[])", (keys,))
        return
    db = sqlite3.connect(database)
    with db:
        db.executemany("INSERT INTO seen_keys (key) VALUES (?)", [(k,) for k in keys])
    db.close()


def test_a_body_s_lookups_together_find_what_each_finds_alone(tmp_path: Path,
                                                                database: str) -> None:
    """known_keys (PostgreSQL: one statement) finds what known_guids, then
    items_by_canonical_url and forgotten_urls for the items not known, find: guids stored
    or kept by retention, a URL another item holds (canonical form), one retention
    forgot, none, an empty one, a guid and a URL twice; each URL's canonical form for the
    items not known."""
    store = make_store(tmp_path, database)
    try:
        poll_with_story(store, "1", {"t": ["n"]})
        keep_keys(database, [dedup_key("guid", "wire", "gone"),
                             dedup_key("url", "https://wire.example/forgotten")])
        items = [ParsedItem(guid="1", url="https://wire.example/1", title="T"),
                 ParsedItem(guid="gone", url="https://wire.example/gone", title="T"),
                 ParsedItem(guid="copy", url="https://wire.example/1?utm_source=feed", title="T"),
                 ParsedItem(guid="again", url="https://wire.example/forgotten", title="T"),
                 ParsedItem(guid="new", url="https://wire.example/new", title="T"),
                 ParsedItem(guid="bare", url="", title="T"),
                 # twice in one body: a guid, and a URL held by a known item
                 ParsedItem(guid="new", url="https://wire.example/new-again", title="T"),
                 ParsedItem(guid="copy2", url="https://wire.example/1", title="T")]
        known = store.known_keys("wire", items, canonical_url)
        assert known.guids == {"1", "gone"}
        first = store.items_by_canonical_url(["https://wire.example/1"])
        assert known.urls == first and len(first) == 1
        assert known.forgotten == {"https://wire.example/forgotten"}
        fresh = [item for item in items if item.guid not in known.guids]
        assert {item.url: known.canonical[item.url] for item in fresh} == {
            item.url: canonical_url(item.url) for item in fresh}
        # The same, looked up one after another.
        assert store.known_guids("wire", [item.guid for item in items]) == known.guids
        urls = [canonical_url(item.url) for item in fresh]
        assert store.items_by_canonical_url(urls) == known.urls
        assert store.forgotten_urls([u for u in urls if u not in known.urls]) == \
            known.forgotten
        assert store.known_keys("wire", [], canonical_url).guids == set()
    finally:
        store.close()


def test_a_poll_of_more_items_than_one_statement_inserts_keeps_them_all(
        tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The items a poll refers to nothing with are inserted many to a statement (SQLite: at
    most 500, here 7, so 1,201 items take 172; PostgreSQL: one): each row keeps its own
    values (its link and canonical URL, a date or none, alert or not), and the two a story
    links keep their rows."""
    monkeypatch.setattr(sqlite_poll, "_ROWS_PER_INSERT", 7)
    store = make_store(tmp_path, database)
    state = store.source_state("wire")

    def published(n: int) -> datetime | None:
        return None if n % 3 == 0 else NOW - timedelta(minutes=n)

    items = tuple(NewItem(ParsedItem(guid=f"g{n}", url=f"https://wire.example/{n}?src=rss",
                                     title=f"Report {n}", summary=f"Lead of report {n}.",
                                     published=published(n)),
                          f"https://wire.example/{n}", "new" if n % 2 == 0 else "old")
                  for n in range(1201))
    record = PollRecord(state, items, (StoryDecision(0, "t", verdict()),
                                       StoryDecision(1200, "t", verdict())))
    commit_poll(store, record, {"t": ["n"]}, NOW)
    stored = {item.url: item for item in store.stored_items(NOW - timedelta(days=1))}
    assert len(stored) == 1201
    picked = (1, 2, 3, 6, 7, 8, 499, 500, 501, 1000, 1199, 1200)
    for n in picked:
        item = stored[f"https://wire.example/{n}?src=rss"]
        assert (item.title, item.summary, item.published, item.alert) == (
            f"Report {n}", f"Lead of report {n}.", published(n), n % 2 == 0)
    by_canonical = store.items_by_canonical_url([f"https://wire.example/{n}" for n in picked])
    assert {url: stored[url + "?src=rss"].id for url in by_canonical} == by_canonical
    assert len(by_canonical) == len(picked)
    stories = store.matches(NOW - timedelta(days=1))
    assert sorted(s.title for s in stories) == ["Report 0", "Report 1200"]


def test_a_commit_failing_while_applying_its_intents_leaves_nothing(tmp_path: Path,
                                                                    database: str) -> None:
    """The items are written before the planner runs: a failure in the intents' writes
    (here a story that is no longer stored) rolls the items and state back with them."""
    store = make_store(tmp_path, database)
    state = store.source_state("wire")
    first = ParsedItem(guid="a", url="https://wire.example/a", title="Envoy named")
    gone = ParsedItem(guid="b", url="https://wire.example/b", title="Envoy recalled")
    record = PollRecord(replace(state, etag='"v2"'),
                        (NewItem(first, first.url), NewItem(gone, gone.url)),
                        (StoryDecision(0, "t", verdict()),
                         StoryDecision(1, "t", verdict(), story_id=999)))
    with pytest.raises(StoreError):
        commit_poll(store, record, {"t": ["n"]}, NOW)
    assert store.known_guids("wire", ["a", "b"]) == set()
    assert store.matches(NOW - timedelta(days=1)) == []
    assert store.source_state("wire").etag is None
    assert Outbox(store).claim("n", NOW, "d1") is None


def test_digest_delivered_once(tmp_path: Path, database: str) -> None:
    store, clock = make_store(tmp_path, database), FixedClock(NOW)
    config = load_config_data({"topics": [{"name": "t", "event": "recognition"}],
                               "notifiers": [{"name": "n", "type": "file", "path": "x"}]})
    notifier = RecordingNotifier("n")
    deliverer = Deliverer(store, {"n": notifier}, {"n": config.notifiers[0]}, clock)
    poll_with_story(store, "1", {"t": ["n"]})
    poll_with_story(store, "2", {"t": ["n"]})
    assert deliverer.flush("n").sent == 1
    assert [s.title for s in notifier.sent[0].stories] == ["Story 1", "Story 2"]
    assert deliverer.flush("n").sent == 0
    poll_with_story(store, "3", {"t": ["n"]})
    deliverer.flush("n")
    assert [[s.title for s in d.stories] for d in notifier.sent] == [
        ["Story 1", "Story 2"], ["Story 3"]]


def test_failed_delivery_retried_with_same_id_then_dead(tmp_path: Path, database: str) -> None:
    store, clock = make_store(tmp_path, database), FixedClock(NOW)
    config = load_config_data({"topics": [{"name": "t", "event": "recognition"}],
                               "notifiers": [{"name": "n", "type": "file", "path": "x",
                                              "max_attempts": 3}]})
    notifier = RecordingNotifier("n", [NotifyError("503"), NotifyError("503")])
    deliverer = Deliverer(store, {"n": notifier}, {"n": config.notifiers[0]}, clock)
    poll_with_story(store, "1", {"t": ["n"]})
    assert deliverer.flush("n").failed == 1
    assert deliverer.flush("n").sent == 0          # not due yet: backoff
    clock.now += timedelta(minutes=5)
    assert deliverer.flush("n").failed == 1
    clock.now += timedelta(minutes=5)
    assert deliverer.flush("n").sent == 1
    assert len(notifier.sent) == 1
    rows = store.delivery_rows(("delivered",))
    assert rows[0]["id"] == notifier.sent[0].id and rows[0]["attempts"] == 3

    poll_with_story(store, "2", {"t": ["n"]})
    notifier.failures = [NotifyError("550 no such user", permanent=True)]
    assert deliverer.flush("n").dead == 1
    dead = store.delivery_rows(("dead",))
    assert dead[0]["last_error"] == "550 no such user"
    assert Outbox(store).retry(dead[0]["id"], clock.now) == 1
    assert deliverer.flush("n", make_digest=False).sent == 1


def test_one_broken_notifier_does_not_block_another(tmp_path: Path, database: str) -> None:
    store, clock = make_store(tmp_path, database), FixedClock(NOW)
    config = load_config_data({"topics": [{"name": "t", "event": "recognition"}], "notifiers": [
        {"name": "bad", "type": "file", "path": "x"}, {"name": "good", "type": "file",
                                                       "path": "y"}]})

    class Crashing(RecordingNotifier):
        def send(self, digest: Digest) -> None:
            raise RuntimeError("bug in a notifier")

    good = RecordingNotifier("good")
    deliverer = Deliverer(store, {"bad": Crashing("bad"), "good": good},
                          {n.name: n for n in config.notifiers}, clock)
    poll_with_story(store, "1", {"t": ["bad", "good"]})
    outcomes = {o.notifier: o for o in deliverer.flush_all()}
    assert outcomes["bad"].failed == 1 and "bug in a notifier" in outcomes["bad"].errors[0]
    assert outcomes["good"].sent == 1 and len(good.sent) == 1


def test_next_attempt_policy() -> None:
    config = load_config_data({"topics": [{"name": "t", "event": "recognition"}], "notifiers": [
        {"name": "n", "type": "file", "path": "x", "max_attempts": 5, "give_up_after": "1h"}]
    }).notifiers[0]
    first = next_attempt(1, NOW, NOW, config, NotifyError("x"), 0.5)
    second = next_attempt(2, NOW, NOW, config, NotifyError("x"), 0.5)
    assert first is not None and second is not None and first - NOW < second - NOW
    assert next_attempt(1, NOW, NOW, config, NotifyError("x", retry_after=600), 0.5) == \
        NOW + timedelta(minutes=10)
    assert next_attempt(5, NOW, NOW, config, NotifyError("x"), 0.5) is None
    assert next_attempt(1, NOW, NOW, config, NotifyError("x", permanent=True), 0.5) is None
    assert next_attempt(1, NOW - timedelta(hours=2), NOW, config, NotifyError("x"), 0.5) is None


def test_sources_follow_the_config(tmp_path: Path, database: str) -> None:
    store = make_store(tmp_path, database)
    state = store.source_state("wire")
    commit_poll(store, PollRecord(SourceState(**{**state.__dict__, "etag": '"e"',
                                                "url": "https://moved.example/rss"})), {}, NOW)
    sync_sources(store, [("wire", "https://wire.example/rss")], NOW)
    assert store.source_state("wire").url == "https://moved.example/rss"  # redirect kept
    sync_sources(store, [("wire", "https://new.example/rss")], NOW)
    changed = store.source_state("wire")
    assert changed.url == "https://new.example/rss" and changed.etag is None


def test_hot_queries_use_their_indexes(tmp_path: Path) -> None:
    """The per-poll lookups must not scan the items table: it grows without bound."""
    store = make_store(tmp_path)
    plans = []
    original = store._query

    def explain(sql: str, params=()):
        if sql.lstrip().startswith("SELECT") and "FROM items" in sql:
            plans.append(" ".join(row[3] for row in original("EXPLAIN QUERY PLAN " + sql,
                                                             params)))
        return original(sql, params)

    store._query = explain  # type: ignore[method-assign]
    store.known_guids("wire", ["a", "b"])
    store.items_by_canonical_url(["https://wire.example/a", "https://wire.example/b"])
    assert len(plans) == 2
    for plan in plans:
        assert "SCAN items" not in plan and "INDEX" in plan, plan


# -- a failure must end in `failed` (with its error and a backoff), never stay `sending` --------

HOOK = "/hooks/desk/t0ken-5e1"


def webhook_deliverer(store: Store, clock: FixedClock, url: str,
                      timeout: str = "5s") -> Deliverer:
    config = WebhookNotifierConfig.model_validate(
        {"name": "hook", "type": "webhook", "url": url, "timeout": timeout,
         "give_up_after": "30d"})
    ids = iter(f"digest-{n}" for n in range(1, 100))
    return Deliverer(store, {"hook": WebhookNotifier(config, clock=clock)}, {"hook": config},
                     clock, random.Random(7), new_id=lambda: next(ids))


def delivery(store: Store, digest_id: str) -> dict:
    rows = store.delivery_rows(("pending", "sending", "failed", "dead", "delivered"))
    return next(r for r in rows if r["id"] == digest_id)


def test_huge_retry_after_fails_the_delivery_and_does_not_hold_the_next(
        tmp_path: Path, database: str) -> None:
    """`Retry-After: 100000000000000` on a webhook left the delivery in
    `sending` with no error, retried at every tick, and the notifier's next digest behind it."""
    store, clock = make_store(tmp_path, database), FixedClock(NOW)

    def receiver(request: RecordedRequest) -> Response:
        if request.headers["X-Monitor-Delivery"] == "earlier" and clock.now == NOW:
            return Response(503, b"busy", headers={"Retry-After": "100000000000000"})
        return Response(204)

    with LoopbackHTTPServer() as server:
        server.route(HOOK, receiver)
        deliverer = webhook_deliverer(store, clock, server.url(HOOK))
        poll_with_story(store, "1", {"t": ["hook"]})
        Outbox(store).claim("hook", NOW - timedelta(minutes=1), "earlier")
        poll_with_story(store, "2", {"t": ["hook"]})
        outcome = deliverer.flush("hook")               # makes digest-1, then sends both
        assert (outcome.failed, outcome.sent) == (1, 1)
        first = delivery(store, "earlier")
        assert first["status"] == "failed" and "HTTP 503" in first["last_error"]
        assert first["next_attempt_at"] == (NOW + RETRY_AFTER_MAX).isoformat()
        assert delivery(store, "digest-1")["status"] == "delivered"

        assert deliverer.flush("hook").sent == 0              # backoff holds: no resend
        assert len(server.requests_to(HOOK)) == 2
        clock.now += RETRY_AFTER_MAX
        assert deliverer.flush("hook").sent == 1
        ids = [r.headers["X-Monitor-Delivery"] for r in server.requests_to(HOOK)]
        assert ids == ["earlier", "digest-1", "earlier"]


def test_a_failure_the_retry_policy_cannot_read_is_still_recorded_with_backoff(
        tmp_path: Path, database: str) -> None:
    """A notifier (a plugin, say) that passes Retry-After as the raw header text: the
    delivery is recorded failed with its error and the plain backoff, and the notifier's
    next digest goes out in the same flush."""
    store, clock = make_store(tmp_path, database), FixedClock(NOW)
    config = load_config_data({"topics": [{"name": "t", "event": "recognition"}],
                               "notifiers": [{"name": "n", "type": "file", "path": "x"}]})
    bad = NotifyError("HTTP 503 from the relay", retry_after="120")  # type: ignore[arg-type]
    notifier = RecordingNotifier("n", [bad])
    deliverer = Deliverer(store, {"n": notifier}, {"n": config.notifiers[0]}, clock,
                          random.Random(7))
    poll_with_story(store, "1", {"t": ["n"]})
    Outbox(store).claim("n", NOW - timedelta(minutes=1), "first")
    poll_with_story(store, "2", {"t": ["n"]})
    outcome = deliverer.flush("n")
    assert (outcome.failed, outcome.sent) == (1, 1)
    first = delivery(store, "first")
    assert first["status"] == "failed" and first["last_error"] == "HTTP 503 from the relay"
    assert datetime.fromisoformat(first["next_attempt_at"]) >= NOW + 0.75 * RETRY_BASE
    assert deliverer.flush("n").sent == 0 and len(notifier.sent) == 1
    clock.now += RETRY_BASE * 2
    assert deliverer.flush("n").sent == 1
    assert [d.id for d in notifier.sent][-1] == "first"


def test_a_receiver_answering_after_the_timeout_gets_the_digest_again_under_its_id(
        tmp_path: Path, database: str) -> None:
    """Documented in the README: the timeout counts as a failure, the retry repeats the
    digest with the same X-Monitor-Delivery id and the same body."""
    store, clock = make_store(tmp_path, database), FixedClock(NOW)
    answered = threading.Event()

    def late_then_quick(request: RecordedRequest) -> Response:
        if not answered.is_set():
            answered.wait(30)          # takes the digest, answers after the sender gave up
        return Response(204)

    with LoopbackHTTPServer() as server:
        server.route(HOOK, late_then_quick)
        deliverer = webhook_deliverer(store, clock, server.url(HOOK), timeout="1s")
        poll_with_story(store, "1", {"t": ["hook"]})
        outcome = deliverer.flush("hook")
        assert outcome.failed == 1 and "timed out" in outcome.errors[0]
        answered.set()
        clock.now += RETRY_MAX
        assert deliverer.flush("hook").sent == 1
        first, second = server.requests_to(HOOK)
    assert first.headers["X-Monitor-Delivery"] == second.headers["X-Monitor-Delivery"]
    repeat = json.loads(second.body)
    assert json.loads(first.body) == {**repeat, "sent_at": NOW.isoformat().replace("+00:00", "Z")}


def test_a_redirecting_receiver_is_dead_lettered_at_once_saying_where(tmp_path: Path,
                                                                      database: str) -> None:
    """Documented in the README: a 3xx is permanent on purpose; the error names where the
    receiver points (scheme and host, never the path) so the url can be fixed."""
    store, clock = make_store(tmp_path, database), FixedClock(NOW)
    with LoopbackHTTPServer() as server:
        server.route(HOOK, Response(302, b"Found", headers={
            "Location": "https://hooks.example.org/new/s3cret-path"}))
        deliverer = webhook_deliverer(store, clock, server.url(HOOK))
        poll_with_story(store, "1", {"t": ["hook"]})
        assert deliverer.flush("hook").dead == 1
        assert len(server.requests_to(HOOK)) == 1
    error = delivery(store, "digest-1")["last_error"]
    assert "HTTP 302 redirect to https://hooks.example.org/…" in error
    assert "s3cret-path" not in error and "t0ken" not in error


def test_a_source_state_reads_back_as_written(tmp_path: Path, database: str) -> None:
    """Every time field comes back as a time (failing_since came back as text, which the
    operator's health alert cannot compute with when it reads it from the store)."""
    store = make_store(tmp_path, database)
    state = store.source_state("wire")
    written = SourceState(**{**state.__dict__, "failing_since": NOW - timedelta(hours=2),
                             "consecutive_failures": 3, "last_error": "FetchError: HTTP 500",
                             "last_error_at": NOW, "flooding_since": NOW - timedelta(hours=1),
                             "new_per_poll": 2.5, "last_new": 900, "last_capped": 850})
    commit_poll(store, PollRecord(written), {}, NOW)
    store.close()
    again = open_store(database)
    try:
        assert again.source_state("wire") == written
    finally:
        again.close()


def test_the_stories_read_after_a_known_id_use_the_rowid(tmp_path: Path) -> None:
    """Grouping reads the stories committed since it last looked, at every poll: that read
    must not walk every open story of the topic."""
    store = make_store(tmp_path)
    for guid in ("a", "b", "c"):
        poll_with_story(store, guid, {})
    plans = []
    original = store._query

    def explain(sql: str, params=()):
        if "FROM stories" in sql:
            plans.append(" ".join(row[3] for row in original("EXPLAIN QUERY PLAN " + sql,
                                                             params)))
        return original(sql, params)

    store._query = explain  # type: ignore[method-assign]
    assert [s.title for s in store.recent_stories("t", NOW - timedelta(days=1))] == \
        ["Story a", "Story b", "Story c"]
    first = store.recent_stories("t", NOW - timedelta(days=1))[0].id
    assert [s.title for s in store.recent_stories("t", NOW - timedelta(days=1),
                                                  after_id=first)] == ["Story b", "Story c"]
    assert "INTEGER PRIMARY KEY (rowid>?)" in plans[-1], plans[-1]


def test_a_story_s_actors_grow_with_the_states_its_items_name(tmp_path: Path,
                                                              database: str) -> None:
    store = make_store(tmp_path, database)
    poll_with_story(store, "g1", {})
    story_id = store.recent_stories("t", NOW - timedelta(days=1))[0].id

    def join(guid: str, actors: tuple[str, ...]) -> dict[int, tuple[str, ...]]:
        item = ParsedItem(guid=guid, url=f"https://wire.example/{guid}", title=f"Story {guid}")
        joined = Classification(topic="t", match=True, score=0.9, category="recognition_step",
                                actors=actors, evidence="Evidence.", rules=("r",))
        record = PollRecord(store.source_state("wire"), (NewItem(item, item.url),),
                            (StoryDecision(0, "t", joined, story_id=story_id),))
        return commit_poll(store, record, {}, NOW).widened

    assert join("g2", ("Belarus", "Russia")) == {story_id: ("Russia", "Belarus")}
    assert join("g3", ("Russia",)) == {}          # nothing new: nothing rewritten
    assert join("g4", ()) == {}
    [key] = store.recent_stories("t", NOW - timedelta(days=1))
    assert key.actors == ("Russia", "Belarus")
    assert store.matches(NOW - timedelta(days=1))[0].actors == ("Russia", "Belarus")


def test_stories_actors_are_read_as_committed_now(tmp_path: Path, database: str) -> None:
    """What settling a poll's grouping reads, on a store several nodes share, to learn
    the states another node added to a story since this one read it."""
    store = make_store(tmp_path, database)

    def commit(guid: str, actors: tuple[str, ...], story_id: int | None = None) -> None:
        item = ParsedItem(guid=guid, url=f"https://wire.example/{guid}", title=f"Story {guid}")
        found = Classification(topic="t", match=True, score=0.9, category="recognition_step",
                               actors=actors, evidence="Evidence.", rules=("r",))
        record = PollRecord(store.source_state("wire"), (NewItem(item, item.url),),
                            (StoryDecision(0, "t", found, story_id=story_id),))
        commit_poll(store, record, {}, NOW)

    commit("ru", ("Russia",))
    commit("no", ("Norway",))
    russia, norway = (k.id for k in store.recent_stories("t", NOW - timedelta(days=1)))
    assert store.story_actors([russia]) == {russia: ("Russia",)}
    commit("ru-by", ("Russia", "Belarus"), story_id=russia)
    assert store.story_actors([norway, russia, norway + 100]) == {
        russia: ("Russia", "Belarus"), norway: ("Norway",)}
    assert store.story_actors([]) == {}


def test_reports_grouped_with_a_copy_of_an_old_article_alert_a_story_of_their_own(
        tmp_path: Path, database: str) -> None:
    """A month after a story, a poll brings a copy of its article (same link, new words)
    and a fresh report grouped with that copy: the copy joins the old story through its
    link; the fresh report is not carried there unalerted, it opens and queues its own."""
    store = make_store(tmp_path, database)
    poll_with_story(store, "g1", {"t": ["desk"]})
    [old] = store.recent_stories("t", NOW - timedelta(days=1))
    original = store.items_by_canonical_url(["https://wire.example/g1"])
    copy = ParsedItem(guid="c1", url="https://wire.example/g1", title="Follow-up on g1")
    fresh = ParsedItem(guid="f1", url="https://wire.example/f1", title="Fresh report")
    record = PollRecord(store.source_state("wire"),
                        (NewItem(copy, copy.url, "duplicate", original[copy.url]),
                         NewItem(fresh, fresh.url)),
                        (StoryDecision(0, "t", verdict()),
                         StoryDecision(1, "t", verdict(), same_as=0)))
    later = NOW + timedelta(days=30)
    assert commit_poll(store, record, {"t": ["desk"]}, later).alerting == (
        ("t", "recognition_step"),)
    [opened] = store.recent_stories("t", later - timedelta(days=1))
    assert opened.id != old.id and opened.title == "Fresh report"
    assert store.story_actors([old.id]) == {old.id: ("Russia",)}


def test_recent_stories_carry_the_kind_of_step_of_their_ledger_event(tmp_path: Path,
                                                                    database: str) -> None:
    """Grouping joins reports of one step in two languages by its kind: the store gives it
    back as the story's ledger event has it, and None for a story reporting no step."""
    store = make_store(tmp_path, database)
    stories = [("ru-1", "Россия приняла верительные грамоты посла талибов",
                Classification(topic="t", match=True, score=0.9, category="recognition_step",
                               actors=("Russia",), evidence="e", rules=("step:credentials",))),
               ("debate-1", "Moscow debates the Taliban",
                Classification(topic="t", match=True, score=0.9,
                               category="recognition_refused_or_debated", actors=("Russia",),
                               evidence="e", rules=("r",)))]
    for guid, title, found in stories:
        item = ParsedItem(guid=guid, url=f"https://wire.example/{guid}", title=title)
        record = PollRecord(store.source_state("wire"), (NewItem(item, item.url),),
                            (StoryDecision(0, "t", found),))
        commit_poll(store, record, {}, NOW)
    keys = store.recent_stories("t", NOW - timedelta(days=1))
    assert [(k.title[:6], k.kind) for k in keys] == [("Россия", "accepted_envoy"),
                                                     ("Moscow", None)]
    assert [k.kind for k in store.recent_stories("t", NOW - timedelta(days=1),
                                                 after_id=keys[0].id)] == [None]


def test_a_store_closed_under_a_caller_raises_store_errors(tmp_path: Path, database: str) -> None:
    # The daemon's stop closes the store after a bounded wait: a delivery still in flight
    # then records its outcome on a closed store. That must be a StoreError (which the
    # deliverer keeps to retry recording), never a raw sqlite3 error escaping the flush.
    store = make_store(tmp_path, database)
    poll_with_story(store, "1", {"t": ["n"]})
    digest = Outbox(store).claim("n", NOW, "d1")
    assert digest is not None
    store.close()
    with pytest.raises(StoreError):
        store.mark_delivered("d1", NOW)
    with pytest.raises(StoreError):
        store.mark_sending("d1", NOW)


def test_a_notifier_whose_send_outlives_the_store_is_kept_unrecorded(tmp_path: Path,
                                                                     database: str) -> None:
    store, clock = make_store(tmp_path, database), FixedClock(NOW)
    config = load_config_data({"topics": [{"name": "t", "event": "recognition"}],
                               "notifiers": [{"name": "n", "type": "file", "path": "x"}]})

    class ClosingNotifier(RecordingNotifier):
        def send(self, digest: Digest) -> None:
            super().send(digest)
            store.close()          # the stop closed the store while this send was in flight

    notifier = ClosingNotifier("n")
    deliverer = Deliverer(store, {"n": notifier}, {"n": config.notifiers[0]}, clock,
                          random.Random(7))
    poll_with_story(store, "1", {"t": ["n"]})
    outcome = deliverer.flush("n")
    assert outcome.sent == 1 and len(notifier.sent) == 1


def test_a_claim_takes_only_the_stories_it_names_that_are_still_queued(
        tmp_path: Path, database: str) -> None:
    """The store freezes what the outbox chose: a story queued after the choice waits for
    the next digest, and one already in a digest is not taken twice."""
    store = make_store(tmp_path, database)
    poll_with_story(store, "1", {"t": ["n"]})
    chosen = store.queued_stories("n")
    poll_with_story(store, "2", {"t": ["n"]})
    first = store.make_digest("n", chosen, NOW, "d1")
    assert first is not None and [s.title for s in first.stories] == ["Story 1"]
    assert store.make_digest("n", chosen, NOW, "d2") is None
    assert len(store.queued_stories("n")) == 1
    assert [r["id"] for r in store.delivery_rows(("pending",))] == ["d1"]


def test_a_reschedule_changes_only_the_statuses_it_names(tmp_path: Path,
                                                        database: str) -> None:
    store = make_store(tmp_path, database)
    for name in ("1", "2", "3"):
        poll_with_story(store, name, {"t": ["n"]})
        Outbox(store).claim("n", NOW, f"d{name}")
        store.mark_sending(f"d{name}", NOW)
    store.mark_delivered("d1", NOW)
    store.mark_dead("d2", "550", NOW)
    store.mark_failed("d3", "503", NOW, NOW + timedelta(hours=1))
    later = NOW + timedelta(minutes=5)
    plan = Reschedule(due_at=later, statuses=("dead", "failed"), restart=("dead",),
                      restart_as="failed")
    assert store.reschedule_deliveries(plan) == 2
    rows = {r["id"]: r for r in store.delivery_rows(("delivered", "failed", "dead"))}
    assert {k: (r["status"], r["attempts"]) for k, r in rows.items()} == {
        "d1": ("delivered", 1), "d2": ("failed", 0), "d3": ("failed", 1)}
    assert rows["d3"]["next_attempt_at"] == later.isoformat()
    assert store.reschedule_deliveries(Reschedule(due_at=later, statuses=("failed",),
                                                  digest_id="d1")) == 0


def deliveries_in_every_state(store: Store) -> None:
    """Notifier a: 2 pending, 1 failed, 3 dead, 1 delivered; notifier b: 1 dead."""
    plan = [("a", "pending"), ("a", "pending"), ("a", "failed"), ("a", "dead"), ("a", "dead"),
            ("a", "dead"), ("a", "delivered"), ("b", "dead")]
    for n, (notifier, status) in enumerate(plan):
        digest = Digest(f"d{n}", notifier, NOW + timedelta(minutes=n), (), kind="test",
                        text="notice")
        store.add_delivery(digest, NOW)
        if status == "failed":
            store.mark_failed(digest.id, "503", NOW, NOW + timedelta(hours=1))
        elif status == "dead":
            store.mark_dead(digest.id, f"400 for d{n}", NOW)
        elif status == "delivered":
            store.mark_delivered(digest.id, NOW)


def test_delivery_counts_by_notifier_and_status(tmp_path: Path, database: str) -> None:
    store = make_store(tmp_path, database)
    deliveries_in_every_state(store)
    assert store.delivery_counts(("pending", "sending", "failed", "dead")) == {
        ("a", "pending"): 2, ("a", "failed"): 1, ("a", "dead"): 3, ("b", "dead"): 1}
    assert store.delivery_counts(("dead",)) == {("a", "dead"): 3, ("b", "dead"): 1}
    assert store.delivery_counts(("sending",)) == {}


def test_delivery_counts_read_only_the_index_on_sqlite(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    deliveries_in_every_state(store)
    plans = []
    original = store._query

    def explain(sql: str, params=()):
        plans.append(" ".join(row[3] for row in original("EXPLAIN QUERY PLAN " + sql, params)))
        return original(sql, params)

    store._query = explain  # type: ignore[method-assign]
    store.delivery_counts(("dead",))
    # Counted in the index alone: the payloads (a digest's frozen stories) are not read.
    assert len(plans) == 1 and "COVERING INDEX deliveries_due" in plans[0], plans


def test_delivery_rows_can_stop_at_the_oldest_few(tmp_path: Path, database: str) -> None:
    store = make_store(tmp_path, database)
    deliveries_in_every_state(store)
    assert [r["id"] for r in store.delivery_rows(("dead",), limit=2)] == ["d3", "d4"]
    assert [r["id"] for r in store.delivery_rows(("dead",))] == ["d3", "d4", "d5", "d7"]
    assert store.delivery_rows(("dead",), limit=2)[0]["last_error"] == "400 for d3"
