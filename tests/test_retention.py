"""Retention: old items, stories and delivered deliveries are deleted in batches; their
dedup keys stay, so nothing old alerts again; nothing waited for is deleted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app import App, build_app
from monitor.config import load_config_data
from monitor.errors import ConfigError, NotifyError
from monitor.retention import dedup_key, kept_keys, plan_retention, run_retention
from monitor.scheduler import Daemon
from tests.fakes import FixedClock
from tests.loopback import LoopbackHTTPServer, Response
from tests.test_cli import monitor

NEWS = "Chile accepts the credentials of the Taliban's ambassador in Santiago"
FRESH = "Peru accepts the credentials of the Taliban's ambassador in Lima"


START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def rss(*items: tuple[str, str, str]) -> bytes:
    """items: (guid, link, title), undated (so that a first poll alerts them)."""
    body = "".join(f"<item><guid>{g}</guid><link>{link}</link><title>{t}</title></item>"
                   for g, link, t in items)
    return f'<rss version="2.0"><channel><title>T</title>{body}</channel></rss>'.encode()


@pytest.fixture()
def server():
    with LoopbackHTTPServer() as http:
        yield http


def make_app(tmp_path: Path, server: LoopbackHTTPServer, clock: FixedClock,
             retention: str = "90d", database: str | None = None) -> App:
    config = load_config_data({
        "monitor": {"database": database or str(tmp_path / "m.db"), "min_host_interval": "0s",
                    "retention": retention},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": "a", "url": server.url("/a.xml")},
                    {"name": "b", "url": server.url("/b.xml")}],
        "notifiers": [{"name": "n", "type": "file", "path": str(tmp_path / "n.log")}]})
    return build_app(config, clock=clock)


def count(app: App, table: str) -> int:
    return app.store._query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]


def outbox_titles(app: App) -> list[str]:
    return [r["title"] for r in app.store._query(
        "SELECT s.title FROM outbox o JOIN stories s ON s.id = o.story_id ORDER BY o.id")]


def retain(app: App, batch_size: int = 500) -> None:
    run_retention(app.store, plan_retention(app.config.monitor.retention, app.clock(),
                                            batch_size), pause=0)


def test_the_plan_deletes_only_delivered_deliveries_and_stories_whose_reports_are_old(
        ) -> None:
    """The decision, with no database: every cutoff is now - retention; of deliveries only
    delivered ones go; a story's reports are held to the same cutoff as the story."""
    now = START + timedelta(days=100)
    plan = plan_retention(timedelta(days=90), now, batch_size=7)
    assert plan is not None and plan.batch_size == 7
    cutoff = now - timedelta(days=90)
    assert (plan.delivered_before, plan.stories_before, plan.reports_before,
            plan.items_before) == (cutoff, cutoff, cutoff, cutoff)
    assert set(plan.delivery_statuses) == {"delivered"}
    assert plan_retention(None, now) is None


def test_a_deleted_item_leaves_its_guid_key_and_its_url_key_when_it_has_one() -> None:
    assert kept_keys("a", "g1", "https://a.example/1") == (
        dedup_key("guid", "a", "g1"), dedup_key("url", "https://a.example/1"))
    assert kept_keys("a", "g1", "") == (dedup_key("guid", "a", "g1"),)
    assert dedup_key("guid", "a", "g1") != dedup_key("guid", "b", "g1")


def test_an_old_item_deleted_by_retention_does_not_alert_again(tmp_path: Path, database: str,
                                                                server) -> None:
    server.route("/a.xml", Response(body=rss(("a1", "https://a.example/1", NEWS))))
    server.route("/b.xml", Response(body=rss()))
    clock = FixedClock(START)
    app = make_app(tmp_path, server, clock, database=database)
    try:
        a, b = app.config.sources
        app.pipeline.poll(a)
        assert outbox_titles(app) == [NEWS]
        assert app.deliverer.flush_all()[0].sent == 1
        clock.now += timedelta(days=91)
        retain(app)
        for table in ("items", "stories", "story_items", "outbox", "deliveries"):
            assert count(app, table) == 0, table
        # a still serves it (beside something new); b carries a copy of its link
        server.route("/a.xml", Response(body=rss(("a1", "https://a.example/1", NEWS),
                                                 ("a2", "https://a.example/2", FRESH))))
        server.route("/b.xml", Response(body=rss(
            ("b1", "https://a.example/1?utm_source=b", NEWS + " today"))))
        app.pipeline.poll(a)
        app.pipeline.poll(b)
        assert outbox_titles(app) == [FRESH]
        # the copy is recorded (a duplicate of nothing left to link), not alerted
        assert [r["alert"] for r in app.store._query(
            "SELECT alert FROM items WHERE guid = 'b1'")] == [0]
    finally:
        app.close()


def test_what_is_still_waited_for_or_recent_is_kept(tmp_path: Path, database: str, server) -> None:
    server.route("/a.xml", Response(body=rss(("a1", "https://a.example/1", NEWS))))
    server.route("/b.xml", Response(body=rss()))
    clock = FixedClock(START)
    app = make_app(tmp_path, server, clock, database=database)
    try:
        app.deliverer.notifiers["n"] = Failing()  # type: ignore[index]
        app.pipeline.poll(app.config.sources[0])
        app.deliverer.flush_all()                  # the delivery failed: it waits for a retry
        clock.now += timedelta(days=91)
        server.route("/b.xml", Response(body=rss(("b1", "https://b.example/1", "Rain"))))
        app.pipeline.poll(app.config.sources[1])   # a recent item
        retain(app)
        assert count(app, "stories") == 1 and count(app, "outbox") == 1
        assert {r["guid"] for r in app.store._query("SELECT guid FROM items")} == {"a1", "b1"}
        assert app.store._query("SELECT status FROM deliveries")[0]["status"] == "failed"
    finally:
        app.close()


class Failing:
    def send(self, digest: object) -> None:
        raise NotifyError("the relay refused the message")


def test_retention_deletes_in_batches_until_nothing_old_is_left(tmp_path: Path, database: str,
                                                                 server) -> None:
    server.route("/a.xml", Response(body=rss(*[(f"a{i}", f"https://a.example/{i}", f"Rain {i}")
                                               for i in range(7)])))
    clock = FixedClock(START)
    app = make_app(tmp_path, server, clock, database=database)
    try:
        app.pipeline.poll(app.config.sources[0])
        clock.now += timedelta(days=100)
        batches = []
        forget = app.store.forget_batch
        app.store.forget_batch = lambda plan: batches.append(forget(plan)) or batches[-1]
        retain(app, batch_size=3)
        assert [f.items for f in batches] == [3, 3, 1]
        assert count(app, "items") == 0 and count(app, "seen_keys") == 14  # guid + URL keys
        assert app.store.known_guids("a", ["a0", "a6", "a7"]) == {"a0", "a6"}
    finally:
        app.close()


def test_retention_off_keeps_everything_and_short_ones_are_refused(tmp_path: Path, database: str,
                                                                   server) -> None:
    server.route("/a.xml", Response(body=rss(("a1", "https://a.example/1", "Rain"))))
    clock = FixedClock(START)
    app = make_app(tmp_path, server, clock, retention="off", database=database)
    try:
        assert app.config.monitor.retention is None
        app.pipeline.poll(app.config.sources[0])
        clock.now += timedelta(days=3650)
        retain(app)
        assert count(app, "items") == 1
    finally:
        app.close()
    topics = [{"name": "t", "query": "rain"}]
    assert load_config_data({"topics": topics}).monitor.retention == timedelta(days=90)
    with pytest.raises(ConfigError, match="retention must be at least"):
        load_config_data({"topics": topics, "monitor": {"retention": "12h"}})


def test_the_daemon_runs_retention(tmp_path: Path, database: str, server) -> None:
    server.route("/a.xml", Response(body=rss(("a1", "https://a.example/1", "Rain"))))
    clock = FixedClock(START)
    clock.now = datetime.now(UTC) - timedelta(days=91)  # the scheduler runs on real time
    app = make_app(tmp_path, server, clock, database=database)
    daemon = Daemon(app)
    try:
        app.pipeline.poll(app.config.sources[0])
        clock.now += timedelta(days=91)
        daemon.start()
        job = daemon._scheduler.get_job("retention")
        assert job is not None and job.trigger.interval == timedelta(hours=1)
        daemon._retain()  # what the job runs
        assert count(app, "items") == 0
    finally:
        daemon.stop(0)
        app.close()


def test_status_shows_the_database_size_and_oldest_item(tmp_path: Path, server) -> None:
    server.route("/a.xml", Response(body=rss(("a1", "https://a.example/1", "Rain"))))
    server.route("/b.xml", Response(body=rss()))
    config = tmp_path / "monitor.toml"
    config.write_text(f'[monitor]\ndatabase = "{tmp_path / "m.db"}"\nretention = "30d"\n'
                      f'min_host_interval = "0s"\n'
                      f'[[topics]]\nname = "t"\nquery = "rain"\n'
                      f'[[sources]]\nname = "a"\nurl = "{server.url("/a.xml")}"\n')
    assert monitor("once", "-c", str(config)).returncode == 0
    status = monitor("status", "-c", str(config))
    assert status.returncode == 0, status.stderr
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    line = status.stdout.splitlines()[-1]
    assert line.startswith(f"database {tmp_path / 'm.db'}: ") and " KB, 1 item;" in line
    assert f"oldest item first seen {day}" in line and "(retention 30d)" in line
    document = json.loads(monitor("status", "--json", "-c", str(config)).stdout)["database"]
    assert document["size_bytes"] > 0 and document["items"] == 1
    assert document["oldest_item"].startswith(day) and document["retention"] == "30d"


def test_a_story_stays_while_a_later_copy_of_its_item_does(tmp_path: Path, database: str,
                                                           server) -> None:
    # A copy that joined the story weeks later is younger than the cutoff when the story's
    # first report is not: deleting the story would strand the copy, and the next copy of
    # that URL would then open (and alert) the old story anew.
    server.route("/a.xml", Response(body=rss(("a1", "https://a.example/1", NEWS))))
    server.route("/b.xml", Response(body=rss()))
    clock = FixedClock(START)
    app = make_app(tmp_path, server, clock, database=database)
    try:
        a, b = app.config.sources
        app.pipeline.poll(a)
        app.pipeline.poll(b)
        assert app.deliverer.flush_all()[0].sent == 1
        clock.now += timedelta(days=20)
        server.route("/b.xml", Response(body=rss(
            ("b1", "https://a.example/1?utm_source=x", NEWS))))
        app.pipeline.poll(b)
        clock.now = START + timedelta(days=91)
        retain(app)
        assert count(app, "stories") == 1          # its newest report is 71 days old
        server.route("/a.xml", Response(body=rss(("a2", "https://a.example/1", NEWS))))
        app.pipeline.poll(a)
        assert outbox_titles(app) == []             # the old story does not alert again
        clock.now = START + timedelta(days=182)     # its newest report (day 91) is old now
        retain(app)
        assert count(app, "stories") == 0
    finally:
        app.close()
