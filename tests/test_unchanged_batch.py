"""Group commit: unchanged polls keep their source states in a batch, committed together.

Real SQLite files and a loopback server. The batch's delay is an hour in these tests (its
clock is faked where the delay itself is tested), so that nothing depends on timing.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from monitor import scheduler
from monitor.app import App, build_app
from monitor.batch import StateBatch
from monitor.config import load_config_data
from monitor.errors import StoreError
from monitor.scheduler import Daemon, poll_sources
from monitor.store import open_store
from monitor.types import SourceState
from tests.fakes import FixedClock
from tests.loopback import LoopbackHTTPServer, RecordedRequest, Response

FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
        b"<item><title>Weather turns cold in the north</title>"
        b"<link>https://desk.example/1</link><guid>1</guid></item></channel></rss>")
FEED_2 = FEED.replace(b"</channel>", b"<item><title>Harvest is late</title>"
                                     b"<link>https://desk.example/2</link><guid>2</guid>"
                                     b"</item></channel>")


def etagged(request: RecordedRequest) -> Response:
    """Answers 304 to a request that carries the current ETag."""
    if request.headers.get("If-None-Match") == '"v1"':
        return Response(304, headers={"ETag": '"v1"'})
    return Response(body=FEED, headers={"ETag": '"v1"'})


def make_app(tmp_path: Path, server: LoopbackHTTPServer, names: list[str], clock: FixedClock,
             database: str | None = None, **monitor: object) -> App:
    config = load_config_data({
        "monitor": {"database": database or str(tmp_path / "m.db"), "min_host_interval": "0s",
                    "poll_interval": "10m", **monitor},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": n, "url": server.url(f"/{n}.xml")} for n in names]})
    app = build_app(config, clock=clock)
    app.pipeline.batch.delay = 3600.0
    return app


def stored(app: App, name: str) -> SourceState:
    """The state as committed, read through a connection of its own."""
    store = open_store(app.config.monitor.database)
    try:
        return store.source_state(name)
    finally:
        store.close()


def poll_all(app: App) -> list[str]:
    return [app.pipeline.poll(s).status for s in app.config.sources]


def test_unchanged_polls_wait_in_the_batch_until_flushed(tmp_path: Path, database: str,
                                                          fresh_server: LoopbackHTTPServer
                                                          ) -> None:
    fresh_server.route("/a.xml", etagged)
    fresh_server.route("/b.xml", Response(body=FEED))
    app = make_app(tmp_path, fresh_server, ["a", "b"], FixedClock(), database)
    try:
        assert poll_all(app) == ["ok", "ok"]
        assert poll_all(app) == ["not_modified", "unchanged"]
        assert [stored(app, n).last_status for n in ("a", "b")] == ["ok", "ok"]
        pending = app.pipeline.batch.get("a")
        assert pending is not None and pending.last_status == "not_modified"
        app.pipeline.flush()
        assert stored(app, "a") == pending
        assert stored(app, "b").last_status == "unchanged"
        assert app.pipeline.batch.get("a") is None
    finally:
        app.close()


def test_a_full_batch_is_committed_by_the_poll_that_fills_it(tmp_path: Path, database: str,
                                                             fresh_server: LoopbackHTTPServer
                                                             ) -> None:
    for name in ("a", "b", "c"):
        fresh_server.route(f"/{name}.xml", etagged)
    app = make_app(tmp_path, fresh_server, ["a", "b", "c"], FixedClock(), database)
    app.pipeline.batch.size = 2
    try:
        poll_all(app)
        assert poll_all(app) == ["not_modified"] * 3
        assert [stored(app, n).last_status for n in ("a", "b", "c")] == \
            ["not_modified", "not_modified", "ok"]
    finally:
        app.close()


def test_a_batch_whose_oldest_state_waited_the_delay_is_committed(
        tmp_path: Path, database: str, fresh_server: LoopbackHTTPServer) -> None:
    fresh_server.route("/a.xml", etagged)
    fresh_server.route("/b.xml", etagged)
    app = make_app(tmp_path, fresh_server, ["a", "b"], FixedClock(), database)
    seconds = [100.0]
    app.pipeline.batch = StateBatch(size=64, delay=0.5, clock=lambda: seconds[0])
    try:
        poll_all(app)
        a, b = app.config.sources
        app.pipeline.poll(a)
        seconds[0] += 0.4
        assert stored(app, "a").last_status == "ok"   # not yet
        app.pipeline.poll(b)
        assert stored(app, "a").last_status == "ok"   # 0.4 s: still waiting
        seconds[0] += 0.2
        app.pipeline.poll(a)                          # 0.6 s after the oldest
        assert [stored(app, n).last_status for n in ("a", "b")] == ["not_modified"] * 2
    finally:
        app.close()


def test_a_second_poll_before_the_flush_sends_the_etag_the_first_learned(
        tmp_path: Path, database: str, fresh_server: LoopbackHTTPServer) -> None:
    served: list[str] = []

    def new_etag_same_body(request: RecordedRequest) -> Response:
        tag = '"v1"' if not served else '"v2"'
        served.append(request.headers.get("If-None-Match", ""))
        if request.headers.get("If-None-Match") == '"v2"':
            return Response(304, headers={"ETag": tag})
        return Response(body=FEED, headers={"ETag": tag})

    fresh_server.route("/a.xml", new_etag_same_body)
    app = make_app(tmp_path, fresh_server, ["a"], FixedClock(), database)
    try:
        assert poll_all(app) == ["ok"]          # learns "v1"
        assert poll_all(app) == ["unchanged"]   # same body under "v2": pending
        assert stored(app, "a").etag == '"v1"'
        assert poll_all(app) == ["not_modified"]
        assert served == ["", '"v1"', '"v2"']
    finally:
        app.close()


def test_a_failure_after_a_pending_unchanged_poll_stays_committed(
        tmp_path: Path, database: str, fresh_server: LoopbackHTTPServer) -> None:
    fresh_server.route("/a.xml", etagged)
    app = make_app(tmp_path, fresh_server, ["a"], FixedClock(), database)
    try:
        assert poll_all(app) == ["ok"]
        assert poll_all(app) == ["not_modified"]
        fresh_server.route("/a.xml", Response(500, b"oops"))
        assert poll_all(app) == ["error"]
        app.pipeline.flush()
        state = stored(app, "a")
        assert state.last_status == "error" and state.consecutive_failures == 1
        assert app.pipeline.poll(app.config.sources[0]).status == "error"
        assert stored(app, "a").consecutive_failures == 2  # counted from the failure
    finally:
        app.close()


def test_a_changed_poll_after_a_pending_unchanged_poll_stays_committed(
        tmp_path: Path, database: str, fresh_server: LoopbackHTTPServer) -> None:
    fresh_server.route("/a.xml", Response(body=FEED))
    app = make_app(tmp_path, fresh_server, ["a"], FixedClock(), database)
    try:
        assert poll_all(app) == ["ok"]
        assert poll_all(app) == ["unchanged"]
        fresh_server.route("/a.xml", Response(body=FEED_2))
        assert poll_all(app) == ["ok"]
        app.pipeline.flush()
        state = stored(app, "a")
        assert state.last_status == "ok"
        assert state.body_hash == hashlib.sha256(FEED_2).hexdigest()
    finally:
        app.close()


def test_a_poll_that_changes_source_health_is_committed_at_once(
        tmp_path: Path, database: str, fresh_server: LoopbackHTTPServer) -> None:
    fresh_server.route("/a.xml", etagged)
    config = load_config_data({
        "monitor": {"database": database, "min_host_interval": "0s"},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": "a", "url": fresh_server.url("/a.xml")}],
        "notifiers": [{"name": "ops", "type": "file", "path": str(tmp_path / "ops.log"),
                       "operator": True, "alert_after": "2h"}]})
    app = build_app(config, clock=FixedClock())
    app.pipeline.batch.delay = 3600.0
    try:
        assert poll_all(app) == ["ok"]
        fresh_server.route("/a.xml", Response(500, b"oops"))
        assert poll_all(app) == ["error"]
        assert [i.kind for i in app.store.open_incidents("a")] == ["failing"]
        fresh_server.route("/a.xml", etagged)
        assert poll_all(app) == ["not_modified"]   # recovers: the incident closes
        assert app.store.open_incidents("a") == []
        assert stored(app, "a").last_status == "not_modified"
    finally:
        app.close()


def test_a_failed_flush_is_logged_and_does_not_raise_out_of_poll(
        tmp_path: Path, database: str, fresh_server: LoopbackHTTPServer,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    fresh_server.route("/a.xml", etagged)
    fresh_server.route("/b.xml", etagged)
    app = make_app(tmp_path, fresh_server, ["a", "b"], FixedClock(), database)
    app.pipeline.batch.size = 2

    def disk_full(states: object, owner: object = None) -> None:
        raise StoreError("database or disk is full")

    try:
        poll_all(app)
        monkeypatch.setattr(app.store, "record_states", disk_full)
        with caplog.at_level(logging.ERROR, logger="monitor.poll"):
            assert poll_all(app) == ["not_modified", "not_modified"]
        assert "2 source states" in caplog.text and "disk is full" in caplog.text
        assert app.pipeline.batch.get("a") is None   # not kept: polled again when due
        assert stored(app, "a").last_status == "ok"
    finally:
        monkeypatch.undo()
        app.close()


def test_poll_sources_leaves_nothing_pending(tmp_path: Path, database: str,
                                            fresh_server: LoopbackHTTPServer) -> None:
    fresh_server.route("/a.xml", etagged)
    fresh_server.route("/b.xml", Response(body=FEED))
    app = make_app(tmp_path, fresh_server, ["a", "b"], FixedClock(), database)
    try:
        poll_sources(app, app.config.sources)
        outcomes = poll_sources(app, app.config.sources)
        assert sorted(o.status for o in outcomes) == ["not_modified", "unchanged"]
        assert [stored(app, n).last_status for n in ("a", "b")] == \
            ["not_modified", "unchanged"]
    finally:
        app.close()


def test_app_close_commits_the_batch(tmp_path: Path, database: str,
                                     fresh_server: LoopbackHTTPServer) -> None:
    fresh_server.route("/a.xml", etagged)
    app = make_app(tmp_path, fresh_server, ["a"], FixedClock(), database)
    try:
        assert poll_all(app) == ["ok"]
        assert poll_all(app) == ["not_modified"]
    finally:
        app.close()
    assert stored(app, "a").last_status == "not_modified"


def test_daemon_stop_commits_the_batch(tmp_path: Path, database: str,
                                       fresh_server: LoopbackHTTPServer) -> None:
    fresh_server.route("/a.xml", etagged)
    app = make_app(tmp_path, fresh_server, ["a"], FixedClock(), database)
    try:
        poll_all(app)
        poll_all(app)
        daemon = Daemon(app)
        daemon._tick = lambda: None   # type: ignore[method-assign]  # only stop() flushes
        daemon.start()
        assert daemon.stop(grace=5.0)
        assert stored(app, "a").last_status == "not_modified"
    finally:
        app.close()


def due_again(tmp_path: Path, server: LoopbackHTTPServer) -> tuple[App, FixedClock]:
    """A source polled (ok), then again 11 minutes later (304: its new next poll time is in
    the batch, while the store's, from the first poll, has passed)."""
    server.route("/a.xml", etagged)
    clock = FixedClock()
    app = make_app(tmp_path, server, ["a"], clock)
    assert poll_all(app) == ["ok"]
    clock.now += timedelta(minutes=11)
    assert poll_all(app) == ["not_modified"]
    return app, clock


def tick_and_wait(app: App) -> None:
    daemon = Daemon(app)
    daemon._tick()
    daemon._pool.shutdown(wait=True)   # every poll the tick submitted has run
    daemon._deliveries.shutdown(wait=True)


def test_the_daemon_tick_does_not_poll_a_source_whose_poll_waits_in_the_batch(
        tmp_path: Path, fresh_server: LoopbackHTTPServer) -> None:
    app, _ = due_again(tmp_path, fresh_server)
    try:
        tick_and_wait(app)
        assert len(fresh_server.requests_to("/a.xml")) == 2
        assert stored(app, "a").last_status == "not_modified"   # the tick flushed it
    finally:
        app.close()


def test_the_daemon_tick_skips_a_poll_that_joined_the_batch_after_its_flush(
        tmp_path: Path, fresh_server: LoopbackHTTPServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app, clock = due_again(tmp_path, fresh_server)
    try:
        monkeypatch.setattr(app.pipeline, "flush", lambda: None)   # the poll ends just after
        tick_and_wait(app)
        assert len(fresh_server.requests_to("/a.xml")) == 2
        clock.now += timedelta(minutes=11)    # due by its pending state too: polled
        tick_and_wait(app)
        assert len(fresh_server.requests_to("/a.xml")) == 3
    finally:
        monkeypatch.undo()
        app.close()


def test_the_daemon_tick_skips_a_source_whose_poll_committed_after_the_due_read(
        tmp_path: Path, database: str, fresh_server: LoopbackHTTPServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A changed poll commits at once, between the tick's claim of the due sources and its
    # loop: the list it read is stale for that source, the pipeline's state is not.
    fresh_server.route("/a.xml", Response(body=FEED))
    clock = FixedClock()
    app = make_app(tmp_path, fresh_server, ["a"], clock, database)
    try:
        stale = scheduler.claim_due(app, clock())
        assert [source.name for source, _ in stale] == ["a"]
        assert poll_all(app) == ["ok"]
        monkeypatch.setattr(scheduler, "claim_due", lambda app, now: stale)
        tick_and_wait(app)
        assert len(fresh_server.requests_to("/a.xml")) == 1
    finally:
        monkeypatch.undo()
        app.close()


def test_a_poll_whose_commit_failed_leaves_the_next_poll_the_committed_state(
        tmp_path: Path, database: str, fresh_server: LoopbackHTTPServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The pipeline keeps the states it committed, not the ones it tried to.
    versions = iter(['"v1"', '"v2"', '"v3"'])

    def changing(request: RecordedRequest) -> Response:
        etag = next(versions)
        return Response(body=FEED.replace(b"Desk", etag.encode()), headers={"ETag": etag})

    fresh_server.route("/a.xml", changing)
    clock = FixedClock()
    # The commit fails in the daemon's process (tests/test_worker_commits.py: in a worker).
    app = make_app(tmp_path, fresh_server, ["a"], clock, database, workers=1)
    try:
        assert poll_all(app) == ["ok"]                       # v1 committed

        def full(*args: object) -> None:
            raise StoreError("database or disk is full")

        monkeypatch.setattr(app.store, "poll_transaction", full)
        assert poll_all(app) == ["error"]                    # v2 fetched, not committed
        monkeypatch.undo()
        assert poll_all(app) == ["ok"]
        sent = [r.headers.get("If-None-Match") for r in fresh_server.requests_to("/a.xml")]
        assert sent == [None, '"v1"', '"v1"']
        assert stored(app, "a").etag == '"v3"'
    finally:
        monkeypatch.undo()
        app.close()
