"""One backoff for polls and deliveries: the results of the formulas each used to have."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor import decide
from monitor.config import load_config_data
from monitor.deliver import RETRY_BASE, RETRY_MAX, next_attempt
from monitor.errors import NotifyError

NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
JITTERS = [i / 200 for i in range(200)] + [0.999999]
NOTIFIER = load_config_data({"topics": [{"name": "t", "event": "recognition"}], "notifiers": [
    {"name": "n", "type": "file", "path": "x", "max_attempts": 100,
     "give_up_after": "3650d"}]}).notifiers[0]


def old_poll_backoff(failures: int, interval: timedelta, max_backoff: timedelta,
                     jitter: float) -> timedelta:
    """The formula decide.backoff had (without Retry-After)."""
    exponent = min(max(failures - 1, 0), 30)
    seconds = min(interval.total_seconds() * 2 ** exponent, max_backoff.total_seconds())
    return max(timedelta(seconds=seconds * (0.75 + 0.5 * jitter)), timedelta(seconds=1))


def old_delivery_delay(attempts: int, jitter: float) -> timedelta:
    """The formula deliver.next_attempt had (without Retry-After)."""
    delay: timedelta = min(RETRY_BASE * (2 ** min(max(attempts - 1, 0), 20)), RETRY_MAX) \
        * (0.75 + 0.5 * jitter)
    return delay


@pytest.mark.parametrize("interval, max_backoff", [
    (timedelta(seconds=30), timedelta(hours=1)),
    (timedelta(minutes=5), timedelta(hours=6)),
    (timedelta(minutes=15), timedelta(hours=6)),
    (timedelta(seconds=45.5), timedelta(days=1)),
    (timedelta(days=1), timedelta(days=7)),
])
def test_poll_backoff_is_what_it_was(interval: timedelta, max_backoff: timedelta) -> None:
    for failures in range(0, 45):
        for jitter in JITTERS:
            assert decide.backoff(failures, interval, max_backoff, jitter) == \
                old_poll_backoff(failures, interval, max_backoff, jitter), (failures, jitter)


def test_delivery_delay_is_what_it_was() -> None:
    for attempts in range(0, 45):
        for jitter in JITTERS:
            when = next_attempt(attempts, NOW, NOW, NOTIFIER, NotifyError("x"), jitter)
            assert when == NOW + old_delivery_delay(attempts, jitter), (attempts, jitter)


def test_a_huge_interval_does_not_overflow() -> None:
    assert decide.backoff(40, timedelta(days=300), timedelta(days=3000), 0.5) == \
        timedelta(days=3000)
