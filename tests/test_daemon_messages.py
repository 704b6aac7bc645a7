"""What `monitor run` says at start, and once when every source fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import load_config_data
from monitor.scheduler import AllFailingWatch, startup_summary
from monitor.types import PollOutcome

NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
CONFIG = load_config_data({
    "topics": [{"name": "t", "event": "recognition"}],
    "sources": [{"name": n, "url": f"https://{n}.example/rss"} for n in ("a", "b", "c")],
    "notifiers": [{"name": "f", "type": "file", "path": "x.log"}],
}, "config/mine.toml")


def test_start_line_names_config_counts_and_first_polls() -> None:
    line = startup_summary(CONFIG, {"a": None, "b": NOW - timedelta(minutes=1),
                                    "c": NOW + timedelta(minutes=12)}, NOW)
    assert line == ("daemon started with config config/mine.toml: 3 sources, 1 topic, "
                    "1 notifier; first polls: 2 due now, the next at 12:12:00Z (in 12m)")


def test_start_line_when_nothing_is_due_yet() -> None:
    later = {n: NOW + timedelta(minutes=m) for n, m in (("a", 30), ("b", 5), ("c", 9))}
    assert startup_summary(CONFIG, later, NOW).endswith(
        "; first poll due at 12:05:00Z (in 5m)")


def test_every_source_failing_is_said_once_then_the_recovery() -> None:
    watch = AllFailingWatch(["a", "b", "c"])
    down = [PollOutcome(n, "error", error="FetchError: cannot resolve host") for n in "abc"]
    said = [watch.record(o) for o in down]
    assert said[:2] == [None, None]
    assert said[2] is not None and said[2].startswith("every source failed its latest poll "
                                                      "(3 of 3)")
    assert "\n" not in said[2]
    assert [watch.record(o) for o in down] == [None, None, None]   # once, not every cycle
    assert watch.record(PollOutcome("b", "ok")) == "sources answer again: b polled ok"
    assert watch.record(PollOutcome("c", "ok")) is None


def test_some_sources_failing_is_not_every_source() -> None:
    watch = AllFailingWatch(["a", "b"])
    assert watch.record(PollOutcome("a", "error", error="FetchError: HTTP 500")) is None
    assert watch.record(PollOutcome("b", "ok")) is None
    assert watch.record(PollOutcome("b", "not_modified")) is None
