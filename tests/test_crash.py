"""Crash safety on real parts: `monitor run` killed with SIGKILL at chosen moments.

The short CI variant of benchmarks/crash.py (which runs 50 kills and the other faults):
the daemon runs against loopback RSS feeds, a real SMTP server (aiosmtpd) and a webhook
receiver, with new stories published before each start; it is killed during a fetch, just
after a feed answer carrying a new item (the store transaction), during a send, just after
a receiver accepted a message, and at a random moment. At the end every story must have
reached both notifiers, a repeat must carry the first copy's delivery id (the documented
window), and the database must pass `PRAGMA integrity_check` after every kill.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.crash import KILL_MODES, run_kills, run_sigterm
from benchmarks.farm import Received, email_titles, story_titles, tally
from monitor.config import WebhookNotifierConfig
from monitor.deliver import Deliverer
from monitor.errors import StoreError
from monitor.store.sqlite import SqliteStore
from monitor.types import Digest, Story
from tests.fakes import RecordingNotifier


def test_story_titles_are_distinct() -> None:
    titles = story_titles(156)
    assert len(set(titles)) == 156
    with pytest.raises(ValueError):
        story_titles(157)


def test_email_titles_reads_the_numbered_lines_only() -> None:
    text = ("New stories\n\n1. Chile story\n   Evidence:  \"Chile story\"\n\n"
            "2. Peru story\n   - Outlet: 3. not a title\n")
    assert email_titles(text) == ("Chile story", "Peru story")


def test_tally_counts_lost_repeats_and_repeats_outside_the_window() -> None:
    received = [Received("d1", ("a", "b"), 0.0), Received("d1", ("a", "b"), 1.0),
                Received("d2", ("b",), 2.0), Received("d3", ("zzz",), 3.0)]
    result = tally(["a", "b", "c"], received)
    assert (result.expected, result.delivered, result.lost) == (3, 2, 1)
    assert result.repeated == 3          # a and b again under d1, b again under d2
    assert result.outside_window == 1    # only the copy under d2
    assert result.unexpected == 1
    assert result.messages == 4


def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    outcome = run_kills(tmp_path, kills=len(KILL_MODES), seed=5, finish_timeout=40.0)
    report = f"{outcome}\n--- daemon log ---\n{(tmp_path / 'daemon.log').read_text()[-4000:]}"
    assert outcome.kills == len(KILL_MODES)
    assert outcome.integrity_failures == [], report
    assert outcome.expected >= len(KILL_MODES)
    assert outcome.settled, report
    assert outcome.email.lost == 0 and outcome.webhook.lost == 0, report
    assert outcome.email.delivered == outcome.webhook.delivered == outcome.expected
    assert outcome.outside_window == 0, report
    assert outcome.email.unexpected == outcome.webhook.unexpected == 0
    assert outcome.sigterm_status == 0, report


def test_sigterm_during_a_send_does_not_repeat_it(tmp_path: Path) -> None:
    outcome = run_sigterm(tmp_path, stops=2, seed=3, finish_timeout=40.0)
    log = (tmp_path / "daemon.log").read_text()
    assert outcome.lost == 0 and outcome.settled
    assert "Cannot operate on a closed database" not in log
    assert outcome.email.repeated == 0, outcome


class _FullOnce(SqliteStore):
    """A store whose first mark_delivered fails as it does on a full disk."""

    failures = 1

    def mark_delivered(self, digest_id: str, now: datetime) -> None:
        if self.failures:
            self.failures -= 1
            # As SqliteStore raises it: its transactions wrap every SQLite error
            # (test_store_and_deliver: a store closed under a caller).
            raise StoreError(f"database {self.path}: database or disk is full")
        super().mark_delivered(digest_id, now)


def test_a_failure_to_record_success_does_not_resend(tmp_path: Path) -> None:
    now = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
    store = _FullOnce(str(tmp_path / "monitor.db"))
    story = Story(id=1, topic="t", title="Norway accepts the credentials of the Taliban's "
                  "ambassador", url="https://wire.example/1", published=now, category=None,
                  score=1.0, actors=("Norway",), evidence="", sources=())
    store.add_delivery(Digest(id="d1", notifier="hook", created_at=now, stories=(story,)), now)
    notifier = RecordingNotifier("hook")
    config = WebhookNotifierConfig(name="hook", type="webhook", url="http://127.0.0.1:9/")
    deliverer = Deliverer(store, {"hook": notifier}, {"hook": config}, clock=lambda: now)
    with contextlib.suppress(Exception):
        deliverer.flush("hook", make_digest=False)
    assert [d.id for d in notifier.sent] == ["d1"]
    with contextlib.suppress(Exception):
        deliverer.flush("hook", make_digest=False)
    store.close()
    assert [d.id for d in notifier.sent] == ["d1"]


class _DoneAtOnce:
    """An executor whose futures are finished when submit returns (a poll faster than the
    submitting thread, or one cancelled by shutdown(cancel_futures=True) meanwhile)."""

    def submit(self, fn: object, *args: object) -> Future[object]:
        future: Future[object] = Future()
        future.set_result(fn(*args))  # type: ignore[operator]
        return future

    def shutdown(self, **_kwargs: object) -> None:
        pass


def test_daemon_tick_survives_a_poll_that_finishes_before_its_callback(tmp_path: Path) -> None:
    from monitor.app import build_app
    from monitor.config import load_config_data
    from monitor.scheduler import Daemon
    from monitor.types import PollOutcome

    config = load_config_data({
        "monitor": {"database": str(tmp_path / "monitor.db")},
        "topics": [{"name": "t", "event": "recognition", "entities": ["Taliban"]}],
        "sources": [{"name": "wire", "url": "http://127.0.0.1:9/feed.xml"}]})
    app = build_app(config)
    daemon = Daemon(app)
    daemon._pool = _DoneAtOnce()  # type: ignore[assignment]
    polled: list[str] = []

    def poll(source: object) -> PollOutcome:
        polled.append(source.name)  # type: ignore[attr-defined]
        return PollOutcome(source.name, "ok")  # type: ignore[attr-defined]

    app.pipeline.poll = poll  # type: ignore[method-assign]
    tick = threading.Thread(target=daemon._tick, daemon=True)  # stays stuck if it deadlocks
    tick.start()
    tick.join(5.0)
    finished = not tick.is_alive()
    if finished:
        app.close()
    assert polled == ["wire"]
    assert finished, "Daemon._tick deadlocked on its own lock"
