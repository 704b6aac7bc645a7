"""Polls settled and committed in worker processes (monitor/poll_commit.py), on both
backends: real loopback feeds, real worker processes, a real SQLite file or PostgreSQL.

The test holds the store's record lock itself (in the daemon's process: the workers are
others) and lets it go once every poll waits for it: on SQLite, the waiters are the
blocked locks the kernel lists in /proc/locks; on PostgreSQL, the advisory locks
not granted.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html import escape
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from monitor.app import App, build_app, build_classifiers, poll_settings
from monitor.commit import sync_sources
from monitor.config import load_config_data
from monitor.parse.jobs import run_parse_job
from monitor.poll_commit import PollCommitter
from monitor.sift import sift
from monitor.store import Store, open_store
from monitor.store.sqlite import RECORD_LOCK_SUFFIX
from monitor.types import FetchResult, ParseJob, PollOutcome, SiftJob
from monitor.urls import is_postgres_url
from tests.fakes import FixedClock
from tests.loopback import LoopbackHTTPServer, RecordedRequest, Response, RssFeed, wait_for
from tests.test_grouping import BELARUS, BOTH, NEIGHBOUR, NORWAY, RUSSIA

DEADLINE = 20.0


@pytest.fixture()
def server() -> Iterator[LoopbackHTTPServer]:
    with LoopbackHTTPServer() as http:
        yield http


def make_app(tmp_path: Path, database: str, sources: dict[str, str],
             **monitor: object) -> App:
    config = load_config_data({
        "monitor": {"database": database, "min_host_interval": "0s",
                    "fetch_articles": "never", "workers": 2, **monitor},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": name, "url": url} for name, url in sources.items()],
        "notifiers": [{"name": "desk", "type": "file", "path": str(tmp_path / "desk.log")}]})
    app = build_app(config, clock=FixedClock())
    workers = app.workers
    if workers is not None:   # started in the background: all up before the first poll, so
        # that polls sent at once each go to a worker of their own (not one batch to the first)
        wait_for(lambda: len(workers._idle) == workers.count, DEADLINE)
    return app


def waiting_for_the_record_lock(app: App, database: str) -> int:
    """How many processes wait for the store's record lock."""
    if is_postgres_url(database):
        rows = app.store._query(  # type: ignore[attr-defined]
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        return int(rows[0]["n"])
    inode = os.stat(os.path.realpath(database) + RECORD_LOCK_SUFFIX).st_ino
    with open("/proc/locks", encoding="ascii") as locks:
        return sum(1 for line in locks if "->" in line and f":{inode} " in line)


@contextmanager
def refusing(database: str, table: str, operation: str, postgres_when: str,
             sqlite_when: str) -> Iterator[None]:
    """The database refuses to write the rows of ``table`` that the condition picks (as a
    full disk would), while the block runs."""
    if is_postgres_url(database):
        import psycopg

        with psycopg.connect(database, autocommit=True) as db:
            db.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                       "$$ BEGIN RAISE EXCEPTION 'database or disk is full'; END $$")
            db.execute(f"CREATE TRIGGER refuse BEFORE {operation} ON {table} FOR EACH ROW "
                       f"WHEN ({postgres_when}) EXECUTE FUNCTION refuse()")
            try:
                yield
            finally:
                db.execute(f"DROP TRIGGER refuse ON {table}")
                db.execute("DROP FUNCTION refuse()")
        return
    db = sqlite3.connect(database, isolation_level=None)
    try:
        db.execute(f"CREATE TRIGGER refuse BEFORE {operation} ON {table} WHEN {sqlite_when} "
                   "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
        try:
            yield
        finally:
            db.execute("DROP TRIGGER refuse")
    finally:
        db.close()


def failing_state_writes(database: str) -> contextlib.AbstractContextManager[None]:
    """The database refuses to write a source's state of a new body (that of a failed
    poll, which keeps the body's hash, is written)."""
    return refusing(database, "sources", "UPDATE",
                    "NEW.body_hash IS DISTINCT FROM OLD.body_hash",
                    "NEW.body_hash IS NOT OLD.body_hash")


def refusing_items_of(database: str, source: str) -> contextlib.AbstractContextManager[None]:
    """The database refuses the items of one source."""
    return refusing(database, "items", "INSERT", f"NEW.source = '{source}'",
                    f"NEW.source = '{source}'")


def test_two_outlets_committed_by_two_workers_at_once_make_one_story(
        tmp_path: Path, database: str, server: LoopbackHTTPServer) -> None:
    """Both workers group their copies of one story (none stored yet), then wait for the
    record lock: the one that commits second finds the other's story at settle."""
    a, b = RssFeed(server, "/a.xml"), RssFeed(server, "/b.xml")
    a.items = [("a1", NORWAY), ("a2", f"UPDATE 1-{NORWAY} - Fjord Times")]
    b.items = [("b1", f"{NORWAY} | Oslo Wire")]
    app = make_app(tmp_path, database, {"a": a.url, "b": b.url})
    results: list[PollOutcome] = []
    threads = [threading.Thread(target=lambda s=s: results.append(app.pipeline.poll(s)),
                                daemon=True) for s in app.config.sources]
    try:
        with app.store.record_lock():
            for thread in threads:
                thread.start()
            wait_for(lambda: waiting_for_the_record_lock(app, database) == 2, DEADLINE)
        for thread in threads:
            thread.join(DEADLINE)
        assert sorted(r.status for r in results) == ["ok", "ok"]
        assert app.workers is not None and app.workers.commits
        rows = app.store._query("SELECT story_id, COUNT(*) AS n FROM story_items "
                                "GROUP BY story_id")
        assert [r["n"] for r in rows] == [3]
        assert len(app.store._query("SELECT id FROM outbox")) == 1
    finally:
        app.close()


def test_a_poll_whose_commit_fails_in_a_worker_is_an_error_and_keeps_nothing(
        tmp_path: Path, database: str, server: LoopbackHTTPServer) -> None:
    """The worker's commit fails (the database refuses it): the poll is an error, none of
    its items is kept, and the next poll asks with the state committed before it."""
    versions = iter(['"v1"', '"v2"', '"v3"'])

    def changing(request: RecordedRequest) -> Response:
        etag = next(versions)
        item = f"<item><guid>{etag}</guid><title>Desk note {etag}</title></item>"
        return Response(body=f"<rss version='2.0'><channel><title>F</title>{item}"
                             f"</channel></rss>".encode(), headers={"ETag": etag})

    server.route("/a.xml", changing)
    app = make_app(tmp_path, database, {"a": server.url("/a.xml")})
    source = app.config.sources[0]
    in_the_daemon = committed_in_the_daemon(app)
    try:
        assert app.pipeline.poll(source).status == "ok"                 # v1
        with failing_state_writes(database):
            outcome = app.pipeline.poll(source)                         # v2: not committed
        assert outcome.status == "error" and "full" in (outcome.error or "")
        # The worker's StoreError, not a failure of the source: nothing was recorded.
        assert app.store.source_state("a").consecutive_failures == 0
        assert app.store.source_state("a").etag == '"v1"'
        assert app.pipeline.poll(source).status == "ok"                 # v3
        assert in_the_daemon == []
        sent = [r.headers.get("If-None-Match") for r in server.requests_to("/a.xml")]
        assert sent == [None, '"v1"', '"v1"']
        guids = [r["guid"] for r in app.store._query("SELECT guid FROM items ORDER BY id")]
        assert guids == ['"v1"', '"v3"']
        assert app.store.source_state("a").etag == '"v3"'
    finally:
        app.close()


def sends_to_the_workers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each message the daemon's side sends its workers, from now on."""
    sent: list[int] = []
    send_bytes = Connection.send_bytes

    def recording(conn: Connection, buf: object, *args: object, **kwargs: object) -> None:
        sent.append(len(buf))  # type: ignore[arg-type]
        send_bytes(conn, buf, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Connection, "send_bytes", recording)
    return sent


def polled_with_a_batch(app: App, database: str) -> dict[str, PollOutcome]:
    """Every source of the app polled at once, its two workers started: the first two
    polls each go to a worker, which waits for the record lock (held here); the others
    wait for a worker meanwhile. The lock let go, each source's poll outcome."""
    workers = app.workers
    assert workers is not None
    results: dict[str, PollOutcome] = {}
    threads = [threading.Thread(target=lambda s=s: results.__setitem__(
        s.name, app.pipeline.poll(s)), daemon=True) for s in app.config.sources]
    with app.store.record_lock():
        for thread in threads[:2]:
            thread.start()
        wait_for(lambda: waiting_for_the_record_lock(app, database) == 2, DEADLINE)
        for thread in threads[2:]:
            thread.start()
        wait_for(lambda: len(workers._waiting) == len(threads) - 2, DEADLINE)
    for thread in threads:
        thread.join(DEADLINE)
    return results


def test_polls_waiting_for_a_worker_go_to_it_together_and_each_is_kept_or_lost_alone(
        tmp_path: Path, database: str, server: LoopbackHTTPServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Both workers wait for the record lock (held here) with a poll each; eight more polls
    wait for a worker meanwhile. The lock let go, the first worker given back is sent the
    eight in one message. One of them the database refuses: it fails alone (on SQLite,
    rolled back to its savepoint; on PostgreSQL, each poll commits by itself), the others
    are kept."""
    feeds = {f"s{n}": RssFeed(server, f"/s{n}.xml") for n in range(10)}
    for name, feed in feeds.items():
        feed.items = [(f"{name}-1", f"Desk note one from {name}"),
                      (f"{name}-2", f"Desk note two from {name}")]
    app = make_app(tmp_path, database, {name: feed.url for name, feed in feeds.items()})
    sent = sends_to_the_workers(monkeypatch)
    try:
        with refusing_items_of(database, "s5"):
            results = polled_with_a_batch(app, database)
        assert len(sent) == 3, sent   # two polls alone, then the eight in one message
        assert {name: r.status for name, r in results.items()} == {
            f"s{n}": "error" if n == 5 else "ok" for n in range(10)}
        assert "full" in (results["s5"].error or "")
        stored = {r["source"] for r in app.store._query("SELECT DISTINCT source FROM items")}
        assert stored == {f"s{n}" for n in range(10) if n != 5}
    finally:
        app.close()


@contextmanager
def slow_item_inserts(database: str, seconds: float, spared: Sequence[str]) -> Iterator[None]:
    """Each item the PostgreSQL server inserts takes it ``seconds`` more, but those of the
    ``spared`` sources."""
    import psycopg

    with psycopg.connect(database, autocommit=True) as db:
        db.execute("CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN PERFORM pg_sleep({seconds}); RETURN NEW; END $$")
        names = ", ".join(f"'{name}'" for name in spared)   # DDL takes no parameters
        db.execute(f"CREATE TRIGGER slow BEFORE INSERT ON items FOR EACH ROW WHEN "
                   f"(NEW.source NOT IN ({names})) EXECUTE FUNCTION slow()")
        try:
            yield
        finally:
            db.execute("DROP TRIGGER slow ON items")
            db.execute("DROP FUNCTION slow()")


def test_each_poll_of_a_batch_committed_alone_has_the_whole_commit_timeout(
        tmp_path: Path, postgres: str, server: LoopbackHTTPServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL commits the polls of a batch one by one. parse_timeout 2 s, each poll's
    commit 0.7 s (but those of the two sent alone first): the six polls that waited for a
    worker go to it in one message and take more than 4 s to commit, each within its time.
    The worker says that it commits before each (it has been quiet half a second): none is
    stopped, all are kept."""
    feeds = {f"s{n}": RssFeed(server, f"/s{n}.xml") for n in range(8)}
    for name, feed in feeds.items():
        feed.items = [(f"{name}-1", f"Desk note from {name}")]
    app = make_app(tmp_path, postgres, {name: feed.url for name, feed in feeds.items()},
                   parse_timeout="2s")
    sent = sends_to_the_workers(monkeypatch)
    try:
        with slow_item_inserts(postgres, 0.7, spared=("s0", "s1")):
            results = polled_with_a_batch(app, postgres)
        assert len(sent) == 3, sent   # two polls alone, then the six in one message
        assert {name: r.status for name, r in results.items()} == {
            f"s{n}": "ok" for n in range(8)}, {n: r.error for n, r in results.items()}
        stored = {r["source"] for r in app.store._query("SELECT DISTINCT source FROM items")}
        assert stored == set(feeds)
    finally:
        app.close()


def committed_in_the_daemon(app: App) -> list[str]:
    """The sources whose polls the daemon's own committer commits from now on."""
    names: list[str] = []
    commit = app.pipeline.committer.commit

    def recorded(name: str, *args: object, **kwargs: object) -> object:
        names.append(name)
        return commit(name, *args, **kwargs)  # type: ignore[arg-type]

    app.pipeline.committer.commit = recorded  # type: ignore[method-assign,assignment]
    return names


def test_a_worker_stopped_while_it_commits_leaves_the_source_as_stored(
        tmp_path: Path, database: str, server: LoopbackHTTPServer) -> None:
    """The worker waits for the record lock past parse_timeout and is stopped: whether
    the poll was committed is not known, so the daemon records nothing (not a failure of
    the source's body); the next poll reads the source's state as stored, commits the
    items and alerts once."""
    feed = RssFeed(server, "/a.xml")
    feed.items = [("a1", NORWAY)]
    app = make_app(tmp_path, database, {"a": feed.url}, parse_timeout="2s")
    source = app.config.sources[0]
    in_the_daemon = committed_in_the_daemon(app)
    try:
        with app.store.record_lock():
            outcome = app.pipeline.poll(source)
        assert outcome.status == "error"
        assert "committing the poll took longer than 2s" in (outcome.error or "")
        assert "not known" in (outcome.error or "")
        state = app.store.source_state("a")
        assert state.consecutive_failures == 0 and state.body_hash is None
        assert app.store._query("SELECT id FROM items") == []
        assert app.pipeline.poll(source).status == "ok"
        assert len(app.store._query("SELECT id FROM items")) == 1
        assert len(app.store._query("SELECT id FROM outbox")) == 1
        assert in_the_daemon == []
    finally:
        app.close()


def test_a_committer_joins_a_report_to_a_story_that_another_process_widened(
        tmp_path: Path, database: str) -> None:
    """Two committers on one database, as two workers of a node: each its own connection
    and story index. The second knows Russia's story as Russia's alone when the first
    widens it to Belarus; the second's Belarus report still joins it (its grouper reads
    the story's acting states again: ``shared``; without, it opens a story of its own)."""
    config = load_config_data({
        "monitor": {"database": database},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": n, "url": f"https://{n}.example/rss"} for n in "xyzw"]})
    now = datetime.now(UTC)
    stores = [open_store(database), open_store(database)]
    sync_sources(stores[0], ((s.name, s.url) for s in config.sources), now)
    classifiers = build_classifiers(config)
    first, second = (PollCommitter(poll_settings(config), store,
                                   {"t": ()}, random.Random(0), {}, None, shared=True)
                     for store in stores)

    def poll(committer: PollCommitter, name: str, title: str, summary: str = "") -> None:
        body = (f"<rss version='2.0'><channel><title>F</title><item><guid>{name}1</guid>"
                f"<title>{escape(title)}</title><description>{escape(summary)}</description>"
                f"<link>https://news.example/{name}1</link></item></channel></rss>").encode()
        url = f"https://{name}.example/rss"
        job = SiftJob(name, ParseJob("feed", body, url, "application/rss+xml"),
                      committer.store.source_state(name), now)
        sifted = sift(job, run_parse_job, committer.store, classifiers, timedelta(days=2))
        committer.commit(name, timedelta(minutes=10), job.state, FetchResult(url, 200, None),
                         now, f"hash of {name}", sifted.items, sifted.new_items,
                         sifted.decisions)

    try:
        poll(first, "x", RUSSIA, NEIGHBOUR)
        poll(second, "w", NORWAY)         # the second's index now holds Russia's story
        poll(first, "y", BOTH)            # widens it to Belarus
        poll(second, "z", BELARUS)
        rows = stores[0]._query(  # type: ignore[attr-defined]
            "SELECT story_id, COUNT(*) AS n FROM story_items GROUP BY story_id "
            "ORDER BY story_id")
        assert [r["n"] for r in rows] == [3, 1]
    finally:
        for store in stores:
            store.close()


def test_a_poll_s_record_lock_lasts_until_its_transaction_ends(database: str) -> None:
    """The record lock a poll takes on its transaction (PostgreSQL) keeps out another
    poll's and a session's until the transaction commits, and a rollback gives it back;
    on SQLite the poll takes the store's lock before its transaction, as the pipeline does.
    """
    first, second = open_store(database), open_store(database)
    got = threading.Event()

    def locked(store: Store) -> contextlib.AbstractContextManager[object]:
        """What a poll takes before its transaction (PostgreSQL: nothing)."""
        return contextlib.nullcontext() if is_postgres_url(database) else store.record_lock()

    def other_poll() -> None:
        with locked(second), second.poll_transaction() as writer:
            writer.lock_records()
            got.set()

    try:
        with locked(first), first.poll_transaction() as writer:
            writer.lock_records()
            waiting = threading.Thread(target=other_poll, daemon=True)
            waiting.start()
            assert not got.wait(0.5), "another poll took the record lock meanwhile"
        assert got.wait(DEADLINE)
        waiting.join(DEADLINE)
        with pytest.raises(RuntimeError), first.poll_transaction() as writer:
            writer.lock_records()
            raise RuntimeError("the poll fails: its transaction is rolled back")
        with second.record_lock():    # given back by the rollback
            pass
    finally:
        first.close()
        second.close()
