"""What the daemon knows of itself for the HTTP face: its heartbeat, its latest polls, and
"poll now" (a source polled at the next tick whatever its next poll time)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.app import build_app
from monitor.config import load_config_data
from monitor.liveness import Heartbeat, PollLog
from monitor.scheduler import Daemon
from monitor.types import PollOutcome
from tests.fakes import MonotonicClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_heartbeat_goes_stale_without_ticks() -> None:
    clock = MonotonicClock(100.0)
    heartbeat = Heartbeat(clock)
    clock.advance(3)
    assert heartbeat.problem() == "the scheduler has not ticked yet (started 3s ago)"
    heartbeat.beat()
    clock.advance(60)
    assert heartbeat.problem() is None
    clock.advance(15)
    assert heartbeat.problem() == "the scheduler last ticked 75s ago (more than 60s)"
    heartbeat.beat()
    assert heartbeat.problem() is None


def test_the_poll_log_keeps_the_latest_polls_of_each_source() -> None:
    log = PollLog(keep=3)
    for n in range(5):
        log.record(T0 + timedelta(minutes=n), PollOutcome("a", "ok", items=n))
    log.record(T0, PollOutcome("b", "error", error="FetchError: refused"))
    assert [p.items for p in log.recent("a")] == [4, 3, 2]
    assert [(p.status, p.error) for p in log.recent("b")] == [("error", "FetchError: refused")]
    assert log.recent("c") == []


class _RunAtOnce:
    """A pool that runs what is submitted before submit returns."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args))
        return future

    def shutdown(self, **_kwargs: object) -> None:
        pass


def test_poll_now_polls_a_source_at_the_next_tick_whatever_its_next_poll(
        tmp_path: Path) -> None:
    config = load_config_data({
        "monitor": {"database": str(tmp_path / "monitor.db")},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": "wire", "url": "http://127.0.0.1:9/feed.xml"},
                    {"name": "other", "url": "http://127.0.0.1:9/other.xml"}]})
    app = build_app(config)
    try:
        later = app.clock() + timedelta(hours=1)
        app.store.record_states([replace(app.store.source_state(name), next_poll_at=later)
                                 for name in ("wire", "other")])
        daemon = Daemon(app)
        daemon._pool = _RunAtOnce()  # type: ignore[assignment]
        polled: list[str] = []

        def poll(source: Any) -> PollOutcome:
            polled.append(source.name)
            return PollOutcome(source.name, "ok", items=2)

        app.pipeline.poll = poll  # type: ignore[method-assign]
        assert daemon.liveness() is not None          # not ticked yet
        daemon._tick()
        assert polled == [] and daemon.liveness() is None
        assert daemon.poll_now("wire") is True
        assert daemon.poll_now("nowhere") is False
        daemon._tick()
        assert polled == ["wire"]
        assert [p.items for p in daemon.recent_polls.recent("wire")] == [2]
        daemon._tick()                                 # asked once, polled once
        assert polled == ["wire"]
        daemon.stopping.set()
        assert daemon.liveness() == "the daemon is stopping"
    finally:
        app.close()
