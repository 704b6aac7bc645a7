"""What the pages show of the stored records: sources in the order a person needs them,
times relative to now, intervals as the config writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.decide import after_failure, after_success
from monitor.types import SourceState
from monitor.web.views import duration, relative, source_list

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EVERY = timedelta(minutes=15)


def test_relative_times() -> None:
    assert relative(T0, T0 + timedelta(seconds=2)) == "just now"
    assert relative(T0, T0 + timedelta(seconds=42)) == "42s ago"
    assert relative(T0, T0 + timedelta(minutes=3, seconds=59)) == "3m ago"
    assert relative(T0 + timedelta(hours=5, minutes=1), T0) == "in 5h"
    assert relative(T0, T0 + timedelta(days=2, hours=23)) == "2d ago"
    assert [duration(timedelta(seconds=s)) for s in (90, 3600, 5400, 86400)] == [
        "1m30s", "1h", "1h30m", "1d"]


def ok(name: str) -> SourceState:
    return after_success(SourceState(name, f"https://{name}.example/"), T0, status="ok",
                         interval=EVERY, jitter=0.5, items=3, new=1)


def test_sources_needing_a_person_come_first_and_ok_ones_are_cut() -> None:
    failing = after_failure(SourceState("m", "https://m.example/"), T0,
                            error="FetchError: HTTP 500", interval=EVERY,
                            max_backoff=timedelta(hours=6), jitter=0.5)
    gone = after_failure(SourceState("z", "https://z.example/"), T0, error="FetchError: 410",
                         interval=EVERY, max_backoff=timedelta(hours=6), jitter=0.5, gone=True)
    states = [ok("b"), ok("A"), failing, gone, ok("c")]
    configured = [(n, f"https://{n}.example/", EVERY) for n in ("A", "b", "c", "m", "z", "new")]
    listed = source_list(configured, states, T0 + timedelta(minutes=1), ok_shown=2)
    assert [(r.name, r.health) for r in listed.rows] == [
        ("m", "failing"), ("z", "gone"), ("new", "new"), ("A", "ok"), ("b", "ok")]
    assert listed.counts == [("failing", 1), ("gone", 1), ("new", 1), ("ok", 3)]
    assert (listed.total, listed.hidden) == (6, 1)
    assert listed.rows[0].last_error == "FetchError: HTTP 500"
    assert listed.rows[0].last_error_at.relative == "1m ago"
    assert len(source_list(configured, states, T0).rows) == 6
