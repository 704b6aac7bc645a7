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

from pathlib import Path

import pytest

from benchmarks.crash import KILL_MODES, run_kills
from benchmarks.farm import Received, email_titles, story_titles, tally


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
