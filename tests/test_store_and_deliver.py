"""The SQLite store (migrations, locking, one-transaction polls) and outbox delivery."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import load_config_data
from monitor.deliver import Deliverer, next_attempt
from monitor.errors import NotifyError, StoreError
from monitor.store import SqliteStore, acquire_daemon_lock
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

NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class RecordingNotifier:
    def __init__(self, name: str, failures: list[NotifyError] | None = None) -> None:
        self.name = name
        self.failures = list(failures or [])
        self.sent: list[Digest] = []

    def send(self, digest: Digest) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(digest)


def make_store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(str(tmp_path / "m.db"))
    store.sync_sources([("wire", "https://wire.example/rss")], NOW)
    return store


def verdict(category: str = "recognition_step") -> Classification:
    return Classification(topic="t", match=True, score=0.9, category=category,
                          actors=("Russia",), evidence="Evidence.", rules=("r",))


def poll_with_story(store: SqliteStore, guid: str, subscribers: dict) -> None:
    state = store.source_state("wire")
    item = ParsedItem(guid=guid, url=f"https://wire.example/{guid}", title=f"Story {guid}")
    record = PollRecord(state, (NewItem(item, item.url),), ((0, StoryDecision("t", verdict())),))
    store.record_poll(record, subscribers, NOW)


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


def test_poll_is_one_transaction(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    state = store.source_state("wire")
    good = ParsedItem(guid="1", url="https://wire.example/1", title="One")
    record = PollRecord(state, (NewItem(good, good.url),),
                        ((0, StoryDecision("t", verdict())), (5, StoryDecision("t", verdict()))))
    with pytest.raises(IndexError):  # a bad record fails midway ...
        store.record_poll(record, {"t": ["n"]}, NOW)
    assert store.known_guids("wire", ["1"]) == set()  # ... and nothing of it stays
    poll_with_story(store, "1", {"t": ["n"]})
    assert store.known_guids("wire", ["1", "2"]) == {"1"}
    assert [s.title for s in store.matches(NOW - timedelta(days=1))] == ["Story 1"]


def test_digest_delivered_once(tmp_path: Path) -> None:
    store, clock = make_store(tmp_path), Clock()
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


def test_failed_delivery_retried_with_same_id_then_dead(tmp_path: Path) -> None:
    store, clock = make_store(tmp_path), Clock()
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
    assert store.retry_deliveries(dead[0]["id"], clock.now) == 1
    assert deliverer.flush("n", make_digest=False).sent == 1


def test_one_broken_notifier_does_not_block_another(tmp_path: Path) -> None:
    store, clock = make_store(tmp_path), Clock()
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


def test_sources_follow_the_config(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    state = store.source_state("wire")
    store.record_poll(PollRecord(SourceState(**{**state.__dict__, "etag": '"e"',
                                                "url": "https://moved.example/rss"})), {}, NOW)
    store.sync_sources([("wire", "https://wire.example/rss")], NOW)
    assert store.source_state("wire").url == "https://moved.example/rss"  # redirect kept
    store.sync_sources([("wire", "https://new.example/rss")], NOW)
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


def test_a_source_state_reads_back_as_written(tmp_path: Path) -> None:
    """Every time field comes back as a time (failing_since came back as text, which the
    operator's health alert cannot compute with when it reads it from the store)."""
    store = make_store(tmp_path)
    state = store.source_state("wire")
    written = SourceState(**{**state.__dict__, "failing_since": NOW - timedelta(hours=2),
                             "consecutive_failures": 3, "last_error": "FetchError: HTTP 500",
                             "last_error_at": NOW, "flooding_since": NOW - timedelta(hours=1),
                             "new_per_poll": 2.5, "last_new": 900, "last_capped": 850})
    store.record_poll(PollRecord(written), {}, NOW)
    store.close()
    assert SqliteStore(str(tmp_path / "m.db")).source_state("wire") == written


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
