"""`monitor db copy`: a SQLite database filled by a real `monitor once` moves to PostgreSQL;
after the move nothing alerts again and the delivery that was waiting is sent."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import psycopg

from monitor.store import Store
from tests.loopback import LoopbackHTTPServer, RecordedRequest, Response
from tests.test_cli import STEP, error_line, monitor

REFUSAL = ("Germany says it will not recognise the Taliban government",
           "Berlin refused to accept the Taliban's nominee as ambassador.")
NEW = ("Belarus accepts the credentials of the Taliban's ambassador in Minsk",
       "The Belarusian foreign ministry received the envoy of the Islamic Emirate.")


def feed(outlet: str, *items: tuple[str, str]) -> bytes:
    stamp = format_datetime(datetime.now(UTC), usegmt=True)
    body = "".join(f"<item><guid>{outlet}-{i}</guid><title>{t}</title><description>{s}"
                   f"</description><link>https://{outlet}.example/{i}</link>"
                   f"<pubDate>{stamp}</pubDate></item>" for i, (t, s) in enumerate(items))
    return f'<rss version="2.0"><channel><title>T</title>{body}</channel></rss>'.encode()


def write_config(tmp_path: Path, name: str, database: str, server: LoopbackHTTPServer) -> Path:
    config = tmp_path / name
    config.write_text(f"""
[monitor]
database = "{database}"
min_host_interval = "0s"

[[topics]]
name = "taliban-recognition"
event = "recognition"

[[sources]]
name = "Wire"
url = "{server.url('/wire.xml')}"

[[sources]]
name = "Desk"
url = "{server.url('/desk.xml')}"

[[notifiers]]
name = "log"
type = "file"
path = "{tmp_path / 'digests.log'}"

[[notifiers]]
name = "hook"
type = "webhook"
url = "{server.url('/hook')}"
""")
    return config


def titles(request: RecordedRequest) -> list[str]:
    return [s["title"] for s in json.loads(request.body)["stories"]]


def test_a_copy_to_postgres_alerts_nothing_again_and_sends_what_waited(
        tmp_path: Path, postgres: str) -> None:
    hook = {"status": 500}
    with LoopbackHTTPServer() as server:
        server.route("/wire.xml", Response(body=feed("wire", STEP)))
        server.route("/desk.xml", Response(body=feed("desk", REFUSAL)))
        server.route("/hook", lambda _r: Response(status=hook["status"]))
        sqlite_path = tmp_path / "monitor.db"
        on_sqlite = write_config(tmp_path, "sqlite.toml", str(sqlite_path), server)
        first = monitor("once", "-c", str(on_sqlite))
        assert first.returncode == 4, first.stderr        # the webhook failed
        log = (tmp_path / "digests.log").read_text()
        assert STEP[0] in log and REFUSAL[0] in log
        [failed] = json.loads(monitor("deliveries", "--json", "-c", str(on_sqlite)).stdout)[
            "deliveries"]
        assert failed["status"] == "failed" and failed["attempts"] == 1

        copied = monitor("db", "copy", "--from", str(sqlite_path), "--to", postgres,
                         "-c", str(on_sqlite))
        assert copied.returncode == 0, copied.stderr
        assert copied.stdout.startswith(f"copied {sqlite_path} into {postgres}: 2 sources, "
                                        f"2 items, 2 stories, 2 story_items, 2 deliveries, "
                                        f"4 outbox, ")
        again = monitor("db", "copy", "--from", str(sqlite_path), "--to", postgres,
                        "-c", str(on_sqlite))
        assert again.returncode == 1
        # the events: the shipped ledger's entries, seeded at the first start
        shipped = len(json.loads(monitor("events", "--json", "-c", str(on_sqlite)).stdout)
                      ["events"])
        assert error_line(again) == (f"error: database {postgres} is not empty (2 sources, "
                                     "2 items, 2 stories, 2 story_items, 2 deliveries, "
                                     f"4 outbox, {shipped} events); copy into an empty "
                                     "database, or give --replace to delete what it holds")
        replaced = monitor("db", "copy", "--from", str(sqlite_path), "--to", postgres,
                           "--replace", "-c", str(on_sqlite))
        assert replaced.returncode == 0, replaced.stderr

        on_postgres = write_config(tmp_path, "postgres.toml", postgres, server)
        check = monitor("db", "check", "-c", str(on_postgres))
        assert check.returncode == 0 and check.stdout.splitlines()[-1].startswith("ok: ")
        [waiting] = json.loads(monitor("deliveries", "--json", "-c", str(on_postgres))
                               .stdout)["deliveries"]
        assert waiting == failed

        # After the move: the wire gains one story, the webhook works again, and the
        # delivery that waited is made due (its backoff has not run out yet).
        server.route("/wire.xml", Response(body=feed("wire", STEP, NEW)))
        hook["status"] = 204
        retry = monitor("deliveries", "--retry", "all", "-c", str(on_postgres))
        assert retry.returncode == 0, retry.stderr
        sent_before = len(server.requests_to("/hook"))
        second = monitor("once", "-c", str(on_postgres))
        assert second.returncode == 0, second.stdout + second.stderr
        hooks = server.requests_to("/hook")[sent_before:]
        by_id = {h.headers["X-Monitor-Delivery"]: titles(h) for h in hooks}
        assert len(hooks) == 2 and sorted(by_id.pop(failed["id"])) == sorted(
            [STEP[0], REFUSAL[0]])
        assert list(by_id.values()) == [[NEW[0]]]
        log_after = (tmp_path / "digests.log").read_text()[len(log):]
        assert NEW[0] in log_after and STEP[0] not in log_after and REFUSAL[0] not in log_after

    with psycopg.connect(postgres) as db:
        statuses = db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status "
                              "ORDER BY status").fetchall()
    assert statuses == [("delivered", 4)]


def test_what_each_store_reads_is_the_same_after_the_copy(tmp_path: Path,
                                                          postgres: str) -> None:
    """Every table, incidents and retention keys included, reads back through the
    PostgreSQL store as it did through the SQLite one."""
    from datetime import timedelta

    from monitor.commit import commit_poll
    from monitor.outbox import Outbox
    from monitor.retention import plan_retention
    from monitor.store import open_store
    from monitor.store.copy import copy_database
    from monitor.types import (
        ArticleCounts,
        CachedArticle,
        Classification,
        NewItem,
        ParsedItem,
        PollRecord,
        StoryDecision,
    )
    from tests.fakes import temp_store

    now = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
    sqlite = temp_store(tmp_path, [("wire", "https://wire.example/rss")], now)
    verdict = Classification(topic="t", match=True, score=0.9, category="recognition_step",
                             actors=("Russia", "Belarus"), evidence="Evidence.",
                             rules=("step:credentials",))

    def poll(n: int, when: datetime) -> None:
        item = ParsedItem(guid=f"g{n}", url=f"https://wire.example/{n}", title=f"Story {n}",
                          published=when)
        record = PollRecord(sqlite.source_state("wire"), (NewItem(item, item.url),),
                            (StoryDecision(0, "t", verdict),))
        commit_poll(sqlite, record, {"t": ["a", "b"]}, when)

    poll(0, now - timedelta(days=100))                 # alerted and delivered long ago
    for notifier in ("a", "b"):
        assert Outbox(sqlite).claim(notifier, now - timedelta(days=99), f"old-{notifier}")
        sqlite.mark_delivered(f"old-{notifier}", now - timedelta(days=99))
    poll(1, now)
    plan = plan_retention(timedelta(days=90), now)
    assert plan is not None
    sqlite.forget_batch(plan)                                             # keys for g0
    Outbox(sqlite).claim("b", now, "waiting")
    sqlite.mark_failed("waiting", "HTTP 503", now, now + timedelta(minutes=5))
    with sqlite3.connect(tmp_path / "m.db") as db:   # an incident told to one operator
        db.execute("INSERT INTO health_incidents (source, kind, opened_at, detail) VALUES "
                   "('wire', 'failing', ?, 'HTTP 500 since noon')", (now.isoformat(),))
        db.execute("INSERT INTO health_alerts VALUES (1, 'ops', ?)", (now.isoformat(),))
    db.close()

    def reads(store: Store) -> tuple[object, ...]:
        return (store.source_states(), store.known_guids("wire", ["g0", "g1", "g2"]),
                store.forgotten_urls(["https://wire.example/0", "https://wire.example/9"]),
                store.matches(now - timedelta(days=365)),
                store.delivery_rows(("pending", "failed", "delivered", "dead")),
                store.open_incidents("wire"), store.stored_items(now - timedelta(days=365)),
                store.database_info().items, store.database_info().kept_keys,
                store.ledger(), store.recent_stories("t", now - timedelta(days=365)),
                store.cached_articles(["https://wire.example/1", "https://wire.example/2"]),
                store.article_counts(now - timedelta(days=1)), store.source_health_facts(),
                store.source_items("wire", 10),
                store.delivery_counts(("pending", "failed", "delivered", "dead")))

    sqlite.record_articles([CachedArticle("https://wire.example/1", now, "Its opening."),
                            CachedArticle("https://wire.example/2", now, "", "HTTP 404")],
                           ArticleCounts(fetched=1, failed=1), now)
    before = reads(sqlite)
    sqlite.close()
    copy_database(str(tmp_path / "m.db"), postgres)
    copied = open_store(postgres)
    try:
        assert reads(copied) == before
        assert before[1] == {"g0", "g1"} and before[8] == 2 and before[5]
        assert len(before[11]) == 2 and before[12] == ArticleCounts(fetched=1, failed=1)
        assert [k.kind for k in before[10]] == ["accepted_envoy"]   # g0's story is gone
        assert any(e.first for e in before[9])                      # the ledger came along
        assert Outbox(copied).claim("a", now, "next") is not None    # g1's story, queued
        assert Outbox(copied).claim("a", now, "again") is None
    finally:
        copied.close()
