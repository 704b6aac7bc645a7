"""What only the PostgreSQL backend has: migrations under an advisory lock, a pool whose
broken connections are replaced, rows claimed past another process's locks, and a URL
whose password is never shown. Each test gets a database of its own (the `postgres`
fixture); they skip without $MONITOR_TEST_POSTGRES_URL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from monitor.commit import commit_poll
from monitor.errors import StoreError
from monitor.outbox import Outbox
from monitor.retention import dedup_key, kept_keys
from monitor.store import open_store
from monitor.store.postgres import PostgresStore, refuse_old_server
from monitor.store.postgres_nodes import RECORD_LOCK
from monitor.store.postgres_schema import SCHEMA_VERSION
from monitor.types import (
    Classification,
    KnownKeys,
    NewItem,
    ParsedItem,
    PollRecord,
    StoryDecision,
)
from tests.fakes import temp_store
from tests.test_cli import monitor

NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:"
                                            f"{parts.port or 5432}"))


def poll_with_story(store: PostgresStore, guid: str) -> None:
    verdict = Classification(topic="t", match=True, score=0.9, category="recognition_step",
                             actors=("Russia",), evidence="Evidence.", rules=("r",))
    item = ParsedItem(guid=guid, url=f"https://wire.example/{guid}", title=f"Story {guid}")
    record = PollRecord(store.source_state("wire"), (NewItem(item, item.url),),
                        (StoryDecision(0, "t", verdict),))
    commit_poll(store, record, {"t": ["n"]}, NOW)


def make_store(tmp_path: Path, url: str) -> PostgresStore:
    store = temp_store(tmp_path, [("wire", "https://wire.example/rss")], NOW, url)
    assert isinstance(store, PostgresStore)
    return store


def test_the_schema_is_migrated_once_when_processes_start_together(postgres: str) -> None:
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            stores.append(PostgresStore(postgres))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(stores) == 4
    for store in stores:
        store.close()
    with psycopg.connect(postgres) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [
            (SCHEMA_VERSION,)]


def test_a_database_newer_than_the_code_is_refused(postgres: str) -> None:
    PostgresStore(postgres).close()
    with psycopg.connect(postgres) as db:
        db.execute("UPDATE schema_version SET version = version + 1")
    with pytest.raises(StoreError, match=f"has schema version {SCHEMA_VERSION + 1}, newer "
                                         f"than this news-monitor"):
        PostgresStore(postgres)


def test_connections_killed_by_the_server_are_replaced(tmp_path: Path, postgres: str) -> None:
    """pg_terminate_backend (a server restart, a failover) under an idle pool: the next
    calls get new connections."""
    store = make_store(tmp_path, postgres)
    try:
        poll_with_story(store, "1")
        name = urlsplit(postgres).path.lstrip("/")
        with psycopg.connect(postgres, autocommit=True) as admin:
            killed = admin.execute("SELECT COUNT(pg_terminate_backend(pid)) FROM "
                                   "pg_stat_activity WHERE datname = %s AND pid <> "
                                   "pg_backend_pid()", (name,)).fetchone()
        assert killed is not None and killed[0] >= 1
        poll_with_story(store, "2")
        assert store.known_guids("wire", ["1", "2", "3"]) == {"1", "2"}
    finally:
        store.close()


def test_a_write_whose_connection_dies_is_a_store_error_and_leaves_nothing(
        tmp_path: Path, postgres: str) -> None:
    store = make_store(tmp_path, postgres)
    try:
        with pytest.raises(StoreError, match="terminat"):
            with store.poll_transaction() as writer:
                state = store.source_state("wire")
                writer.write_state(state.__class__(**{**state.__dict__, "etag": '"e1"'}))
                with psycopg.connect(postgres, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(pid, 5000) FROM "   # gone
                                  "pg_stat_activity WHERE datname = current_database() "
                                  "AND pid <> pg_backend_pid()")
                writer.write_state(state)
        assert store.source_state("wire").etag is None
        poll_with_story(store, "1")                      # and the store carries on
        assert store.known_guids("wire", ["1"]) == {"1"}
    finally:
        store.close()


def test_a_digest_skips_the_stories_another_process_is_claiming(tmp_path: Path,
                                                                postgres: str) -> None:
    """Two processes making the same notifier's digest at once: each story goes into one
    digest only; the second does not wait for the first."""
    store = make_store(tmp_path, postgres)
    try:
        for guid in ("1", "2", "3"):
            poll_with_story(store, guid)
        with psycopg.connect(postgres) as other:     # another node, mid-claim of story 1
            other.execute("SELECT id FROM outbox WHERE story_id = (SELECT MIN(id) FROM "
                          "stories) FOR UPDATE")
            first = Outbox(store).claim("n", NOW, "d1")
            other.rollback()
        second = Outbox(store).claim("n", NOW, "d2")
        assert first is not None and second is not None
        assert [s.title for s in first.stories] == ["Story 2", "Story 3"]
        assert [s.title for s in second.stories] == ["Story 1"]
        assert Outbox(store).claim("n", NOW, "d3") is None
    finally:
        store.close()


def test_a_password_is_never_shown(tmp_path: Path, postgres: str) -> None:
    secret = "s3cret-pw%2Fx"
    missing = with_password(postgres, secret).rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreError) as caught:
        open_store(missing)
    message = str(caught.value)
    assert "no_such_database" in message and ":***@" in message
    assert "s3cret" not in message

    config = tmp_path / "monitor.toml"
    config.write_text('[monitor]\ndatabase_env = "TEST_DATABASE_URL"\n'
                      '[[topics]]\nname = "t"\nquery = "rain"\n')
    env = {**os.environ, "TEST_DATABASE_URL": with_password(postgres, secret)}
    for command in (["check-config"], ["once"], ["status"], ["status", "--json"],
                    ["db", "check"], ["deliveries"]):
        result = monitor(*command, "-c", str(config), env=env)
        assert result.returncode == 0, (command, result.stderr)
        assert "s3cret" not in result.stdout + result.stderr, command
    assert f"database {with_password(postgres, '***')}: " in \
        monitor("status", "-c", str(config), env=env).stdout


def test_db_check_finds_an_identity_behind_its_ids(tmp_path: Path, postgres: str) -> None:
    store = make_store(tmp_path, postgres)
    poll_with_story(store, "1")
    poll_with_story(store, "2")
    assert store.check().problems == ()
    with psycopg.connect(postgres) as db:
        db.execute("SELECT setval(pg_get_serial_sequence('items', 'id'), 1)")
    found = store.check()
    store.close()
    assert found.problems == ("items: the next id (2) is taken (highest id 2)",)
    config = tmp_path / "monitor.toml"
    config.write_text(f'[monitor]\ndatabase = "{postgres}"\n'
                      '[[topics]]\nname = "t"\nquery = "rain"\n')
    result = monitor("db", "check", "-c", str(config))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"database {postgres}: PostgreSQL ") and \
        lines[0].endswith(f"schema version {SCHEMA_VERSION}")
    assert "problem: items: the next id (2) is taken (highest id 2)" in lines
    assert lines[-1].startswith("FAILED: 11 checks (schema version, ")


def test_times_read_back_in_utc_whatever_the_session_zone(tmp_path: Path,
                                                           postgres: str) -> None:
    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute(f'ALTER DATABASE "{urlsplit(postgres).path[1:]}" SET TIME ZONE '
                   "'Asia/Kabul'")
    store = make_store(tmp_path, postgres)
    try:
        later = NOW + timedelta(minutes=5)
        assert Outbox(store).claim("n", NOW, "none") is None
        poll_with_story(store, "1")
        assert Outbox(store).claim("n", later, "d1") is not None
        [row] = store.delivery_rows(("pending",))
        assert row["created_at"] == later.isoformat() == "2025-07-03T12:05:00+00:00"
        assert store.source_state("wire").next_poll_at.utcoffset() == timedelta(0)
    finally:
        store.close()


STATES = ["Norway", "Chile", "Peru", "Kenya", "Japan", "Brazil", "Ghana", "Mexico",
          "Poland", "Nepal", "Chad", "Fiji"]


def test_polls_and_deliveries_carry_on_while_the_server_drops_connections(
        tmp_path: Path, postgres: str) -> None:
    """pg_terminate_backend every 20 ms during rounds of polls and deliveries:
    a poll cut off is not recorded and is polled again, a delivery not marked is sent again
    under its id; once the killing stops, every item is stored once and every story
    delivered."""
    from monitor.app import build_app
    from monitor.config import load_config_data
    from monitor.scheduler import poll_sources
    from tests.fakes import FixedClock, RecordingNotifier
    from tests.loopback import LoopbackHTTPServer, RssFeed

    with LoopbackHTTPServer() as server:
        feeds = [RssFeed(server, f"/f{n}.xml") for n in range(4)]
        config = load_config_data({
            "monitor": {"database": postgres, "min_host_interval": "0s", "max_per_host": 4},
            "topics": [{"name": "t", "event": "recognition"}],
            "sources": [{"name": f"f{n}", "url": feed.url} for n, feed in enumerate(feeds)],
            "notifiers": [{"name": "n", "type": "file", "path": str(tmp_path / "n.log")}]})
        app = build_app(config, clock=FixedClock())
        notifier = RecordingNotifier("n")
        app.deliverer.notifiers["n"] = notifier  # type: ignore[index]
        stop, killed = threading.Event(), [0]

        def kill() -> None:
            with psycopg.connect(postgres, autocommit=True) as admin:
                while not stop.wait(0.02):
                    # Established connections only: one killed while it is being
                    # opened makes the pool wait before its next try (1 s, 2 s, 4 s ...).
                    row = admin.execute("SELECT COUNT(pg_terminate_backend(pid)) FROM "
                                        "pg_stat_activity WHERE datname = current_database() "
                                        "AND pid <> pg_backend_pid() AND backend_start < "
                                        "now() - interval '50 ms'").fetchone()
                    killed[0] += row[0] if row else 0

        try:
            for round_ in range(len(STATES)):
                for n, feed in enumerate(feeds):
                    feed.items.append((f"r{round_}-f{n}", f"Harbour notice {round_}.{n}"))
                feeds[round_ % 4].items.append(
                    (f"s{round_}", f"{STATES[round_]} accepts the credentials of the "
                                   f"Taliban's ambassador"))
                killer = threading.Thread(target=kill)
                stop.clear()
                killer.start()
                poll_sources(app, config.sources)
                app.deliverer.flush_all()
                stop.set()
                killer.join(10)
            assert killed[0] > 0
            outcomes = poll_sources(app, config.sources)           # the server is left alone
            assert [o.error for o in outcomes] == [None] * 4
            for _ in range(3):   # the deliveries whose marking failed, due again later
                app.clock.now += timedelta(hours=2)  # type: ignore[attr-defined]
                app.deliverer.flush_all()
        finally:
            stop.set()
            app.close()

    with psycopg.connect(postgres) as db:
        guids = [r[0] for r in db.execute("SELECT guid FROM items ORDER BY guid")]
        statuses = db.execute("SELECT DISTINCT status FROM deliveries").fetchall()
    assert sorted(guids) == sorted(g for feed in feeds for g, _ in feed.items)
    assert statuses == [("delivered",)]
    sent = {s.title for d in notifier.sent for s in d.stories}
    assert sent == {f"{state} accepts the credentials of the Taliban's ambassador"
                    for state in STATES}
    repeats = [d.id for d in notifier.sent]
    assert len(repeats) - len(set(repeats)) <= len(notifier.sent) // 2   # same ids only


def test_the_pool_tries_to_reconnect_every_few_seconds_however_long_the_server_was_gone(
        ) -> None:
    """psycopg_pool waits 1, 2, 4, 8 ... s between its attempts to replace a connection the
    server closed: after an outage of 40 s the nodes waited up to 20 s more before their
    first poll (benchmarks/nodes_chaos.py --only restart). The store's pool waits at most
    RECONNECT_EVERY, until it gives up after reconnect_timeout as before."""
    from monitor.store.postgres import RECONNECT_EVERY, ReconnectAttempt

    attempt = ReconnectAttempt(timeout=300.0)
    delays = []
    for failure in range(12):
        attempt.update_delay(1000.0 + failure)
        delays.append(attempt.delay)
    assert 0.8 < delays[0] <= 1.1 and max(delays) == RECONNECT_EVERY
    assert attempt.give_up_at == 1300.0
    attempt.update_delay(1299.5)
    assert attempt.delay == 0.5            # never past the time it gives up
    assert not attempt.time_to_give_up(1299.9) and attempt.time_to_give_up(1300.0)


def test_the_store_pool_reconnects_with_the_capped_attempts(
        postgres: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """psycopg_pool opens (and replaces) its connections through ``_add_connection``: the
    store's pool hands it a ReconnectAttempt each time."""
    from psycopg_pool import ConnectionPool

    from monitor.store.postgres import ReconnectAttempt, ReconnectingPool

    attempts: list[type] = []
    add = ConnectionPool._add_connection

    def recorded(pool: ConnectionPool, attempt: object, growing: bool = False) -> None:
        attempts.append(type(attempt))
        add(pool, attempt, growing)  # type: ignore[arg-type]

    monkeypatch.setattr(ConnectionPool, "_add_connection", recorded)
    store = PostgresStore(postgres)
    try:
        assert isinstance(store._pool, ReconnectingPool)
        store.source_states()
        assert attempts and set(attempts) == {ReconnectAttempt}
    finally:
        store.close()


def test_lookups_follow_the_items_table_as_it_grows_without_analyze(postgres: str) -> None:
    """Before the items table's first ANALYZE (autovacuum's, within a minute of a new
    database; never with autovacuum off, as on the test machine), the planner takes
    `canonical_url = ANY(45 URLs)` for a quarter of the rows and reads the whole table; and
    a statement psycopg prepared keeps the plan made while the table was small. Each
    lookup of a poll's canonical URLs then read every item: a first cycle of 10,000 feeds
    slowed down as items grew (a worker's lookups took 80-870 ms at 180,000 items); and
    `MIN(id)` of one URL was planned as a walk of the primary key in id order until a row
    of that URL, which for a new URL is every row. The store looks each URL up in the
    index on (canonical_url, id), however large the table and whatever its statistics."""
    store = PostgresStore(postgres, pool_size=1)       # one connection: its statistics
    insert = ("INSERT INTO items (source, guid, url, canonical_url, title, summary, "
              "first_seen, alert) SELECT 'wire', g::text, 'https://wire.example/' || g, "
              "'https://wire.example/' || g, 'T', '', now(), false FROM "
              "generate_series(%s::int, %s::int) g")
    try:
        with psycopg.connect(postgres, autocommit=True) as db:
            urls = [f"https://elsewhere.example/{n}" for n in range(45)]
            for first, last in ((1, 0), (1, 20), (21, 300)):   # the table small, or empty
                db.execute(insert, (first, last))
                for _ in range(15):                    # prepared, then planned generic
                    store.items_by_canonical_url(urls)
            db.execute(insert, (301, 20000))

            def rows_read() -> int:
                """Rows of items read by scans and fetched through indexes, so far."""
                store._query("SELECT pg_stat_force_next_flush()")
                row = db.execute("SELECT seq_tup_read + idx_tup_fetch FROM "
                                 "pg_stat_user_tables WHERE relname = 'items'").fetchone()
                assert row is not None
                return int(row[0])

            fresh = PostgresStore(postgres, pool_size=1)   # its plans made for 20,000 items
            try:
                for lookups in (store, fresh):
                    before = rows_read()
                    for n in range(1, 21):
                        assert lookups.items_by_canonical_url(
                            [*urls, f"https://wire.example/{n}"]) == {
                            f"https://wire.example/{n}": n}
                    assert rows_read() - before <= 20 * 2   # the one that matches, not all
            finally:
                fresh.close()
    finally:
        store.close()


def test_the_server_finds_the_dedup_keys_retention_kept(tmp_path: Path, postgres: str) -> None:
    """The keys of deleted items are computed by Python when retention keeps them, and by
    the server when a poll looks its guids and URLs up: both give the same keys, for any
    text (non-ASCII, long, empty guid)."""
    deleted = [("wire", "g-1", "https://wire.example/1"),
               ("Источник", "guid-ü-١٢٣", "https://خبر.example/é?q=1"),
               ("x" * 300, "", "https://wire.example/" + "p" * 500)]
    store = temp_store(tmp_path, database=postgres)
    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute("INSERT INTO seen_keys (key) SELECT unnest(%s::bigint[])",
                   ([key for item in deleted for key in kept_keys(*item)],))
    for source, guid, _url in deleted:
        assert store.known_guids(source, [guid, guid + "-other"]) == {guid}
        assert store.known_guids(source + "-other", [guid]) == set()
    urls = [url for _, _, url in deleted]
    assert store.forgotten_urls([*urls, "https://wire.example/2", ""]) == set(urls)


@pytest.mark.parametrize("version, shown", [(90624, "9.6"), (100023, "10")])
def test_a_server_older_than_11_is_refused_saying_which(version: int, shown: str) -> None:
    with pytest.raises(StoreError, match=f"PostgreSQL {shown} is too old; news-monitor needs "
                                         "PostgreSQL 11 or newer"):
        refuse_old_server(version, "postgresql://db.example/monitor")
    refuse_old_server(110000, "postgresql://db.example/monitor")     # 11.0 and newer run


def test_the_store_checks_the_server_s_version_when_it_opens(
        postgres: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.store import postgres as backend

    monkeypatch.setattr(backend, "OLDEST_SERVER", 990000)    # as if 99 were the oldest
    with pytest.raises(StoreError, match=r"PostgreSQL \d+ is too old"):
        PostgresStore(postgres, pool_size=1)


def test_a_database_not_in_utf8_is_refused_saying_so(postgres: str) -> None:
    import psycopg

    url = postgres.rsplit("/", 1)[0] + "/" + postgres.rsplit("/", 1)[1] + "_latin1"
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} ENCODING 'LATIN1' LC_COLLATE 'C' "
                      "LC_CTYPE 'C' TEMPLATE template0")
    try:
        with pytest.raises(StoreError, match="its encoding is LATIN1; news-monitor needs a "
                                             "UTF8 database"):
            PostgresStore(url, pool_size=1)
        PostgresStore(postgres, pool_size=1).close()    # the test's own database is UTF8
    finally:
        with psycopg.connect(postgres, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name}")


@pytest.mark.parametrize("analysed", [False, True], ids=["never analysed",
                                                       "analysed while empty"])
def test_the_lookups_of_guids_and_kept_keys_probe_their_indexes_as_tables_grow(
        postgres: str, analysed: bool) -> None:
    """The lookups of a poll's guids, URLs and of the keys retention kept, made many times
    while items and seen_keys were empty (never analysed, or analysed so: an
    administrator's ANALYZE on a new database), still look each value up in its index once
    both tables are large. A plan kept from then (psycopg prepares a statement run five
    times, the server then keeps a generic plan) read every kept key and every item of the
    source for each poll, or for each value."""
    store = PostgresStore(postgres, pool_size=1)       # one connection: its plans
    guids = [f"new-{n}" for n in range(45)]
    urls = [f"https://elsewhere.example/{n}" for n in range(45)]
    body = [ParsedItem(guid=g, url=u, title="T") for g, u in zip(guids, urls, strict=True)]

    def same(url: str) -> str:
        return url
    try:
        with psycopg.connect(postgres, autocommit=True) as db:
            if analysed:
                db.execute("ANALYZE items, seen_keys")
            for _ in range(15):
                assert store.known_guids("wire", guids) == set()
                assert store.forgotten_urls(urls) == set()
                assert store.items_by_canonical_url(urls) == {}
                assert store.known_keys("wire", body, same) == KnownKeys(
                    set(), dict(zip(urls, urls, strict=True)), {}, set())
            db.execute("INSERT INTO items (source, guid, url, canonical_url, title, summary, "
                       "first_seen, alert) SELECT 'wire', g::text, '', "
                       "'https://wire.example/' || g, 'T', '', now(), false FROM "
                       "generate_series(1, 20000) g")
            db.execute("INSERT INTO seen_keys (key) SELECT g * 7919 FROM "
                       "generate_series(1, 20000) g")
            db.execute("INSERT INTO seen_keys (key) VALUES (%s), (%s)",
                       (dedup_key("guid", "wire", "kept"), dedup_key("url", urls[0])))

            def rows_read() -> int:
                store._query("SELECT pg_stat_force_next_flush()")
                row = db.execute("SELECT SUM(seq_tup_read + idx_tup_fetch) FROM "
                                 "pg_stat_user_tables WHERE relname IN "
                                 "('items', 'seen_keys')").fetchone()
                assert row is not None
                return int(row[0])

            before = rows_read()
            for n in range(1, 21):
                assert store.known_guids("wire", [*guids, str(n), "kept"]) == {str(n), "kept"}
                assert store.forgotten_urls(urls) == {urls[0]}
                found = f"https://wire.example/{n}"
                assert store.items_by_canonical_url([*urls, found]) == {found: n}
                known = store.known_keys("wire", [
                    *body, ParsedItem(guid=str(n), url="", title="T"),
                    ParsedItem(guid="kept", url="", title="T"),
                    ParsedItem(guid=f"copy-{n}", url=found, title="T")], same)
                assert (known.guids, known.urls, known.forgotten) == (
                    {str(n), "kept"}, {found: n}, {urls[0]})
            assert rows_read() - before <= 20 * 8 * 2   # the rows that match, not the tables
    finally:
        store.close()


def test_the_store_s_connections_compile_no_query(postgres: str) -> None:
    """JIT compiling costs tens of milliseconds a statement where the planner's estimates
    run high (no statistics yet): the store's short statements never gain from it."""
    store = open_store(postgres)
    try:
        with store._connection() as db:
            assert db.execute("SHOW jit").fetchone()["jit"] == "off"
            assert db.execute("SHOW TimeZone").fetchone()["TimeZone"] == "UTC"
    finally:
        store.close()


def test_a_poll_changes_only_the_item_rows_its_own_transaction_wrote(tmp_path: Path,
                                                                     postgres: str) -> None:
    """A node whose lease lapsed may find an item of the source committed by the node
    that polled it meanwhile: bringing its early rows up to its decisions (record only,
    row ids) leaves that row alone, and finds its own."""
    store = make_store(tmp_path, postgres)
    try:
        poll_with_story(store, "g1")                       # another node's, committed
        items = tuple(NewItem(ParsedItem(guid=g, url=f"https://wire.example/{g}",
                                         title=f"Story {g}"), f"https://wire.example/{g}")
                      for g in ("g1", "g2"))
        with store.poll_transaction() as writer:
            writer.insert_items("wire", items, (), NOW)      # g1 skipped: stored already
            assert writer.item_ids("wire", items, [0, 1]) == frozenset({1})
            writer.record_only("wire", ["g1", "g2"])
        assert {r["guid"]: r["alert"] for r in store._query(
            "SELECT guid, alert FROM items")} == {"g1": True, "g2": False}
    finally:
        store.close()


# A worker's poll: its transaction waits for the record lock (the parent holds it).
_WAITS_FOR_THE_RECORD_LOCK = """
import sys
from monitor.store.postgres import PostgresStore
store = PostgresStore(sys.argv[1])
with store.poll_transaction(None) as writer:
    print("waiting", flush=True)
    writer.lock_records()
"""


def test_a_process_killed_while_it_waits_for_the_record_lock_leaves_no_server_process(
        postgres: str) -> None:
    """A worker stopped while its poll waits for the record lock (it took too long): its
    server process ends within seconds, not when its turn at the lock comes (its open
    transaction would hold that source's next poll meanwhile)."""
    def waiting(db: psycopg.Connection[tuple[int]]) -> list[int]:
        return [pid for (pid,) in db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND "
            "wait_event_type = 'Lock' AND query LIKE '%%pg_advisory_xact_lock%%'")]

    PostgresStore(postgres).close()   # the schema
    with psycopg.connect(postgres, autocommit=True) as db:
        if db.info.server_version < 140000:
            pytest.skip("PostgreSQL 13 and older have no client_connection_check_interval")
        try:
            db.execute("SET client_connection_check_interval = '1s'")
        except psycopg.errors.InvalidParameterValue:
            pytest.skip("this server cannot check its clients on its platform")
    with psycopg.connect(postgres) as holder, psycopg.connect(postgres,
                                                              autocommit=True) as looker:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (RECORD_LOCK,))
        child = subprocess.Popen([sys.executable, "-c", _WAITS_FOR_THE_RECORD_LOCK,
                                  postgres], stdout=subprocess.PIPE, text=True,
                                 cwd=Path(__file__).resolve().parents[1])
        try:
            assert child.stdout is not None and child.stdout.readline() == "waiting\n"
            deadline = time.monotonic() + 30
            while not waiting(looker):
                assert time.monotonic() < deadline, "the poll never waited for the lock"
                time.sleep(0.05)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            if child.stdout is not None:
                child.stdout.close()
        deadline = time.monotonic() + 10
        while waiting(looker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert waiting(looker) == []
        holder.rollback()
