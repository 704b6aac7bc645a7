"""HTTP header values both the fetcher and the notifiers read, and the bounds on the delays
servers give in them.

A server may send any bytes: a delay of 10^14 seconds, a date in the year 9999 or
99999999999, digits of another script, "inf". Every delay read here is finite and within
[0, DELTA_SECONDS_LIMIT], and `bounded_delay` clamps it to its caller's documented bound
before it becomes a timedelta, so no header can overflow the arithmetic of a poll or a retry.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# RFC 9111 section 1.2.2: a delta-seconds value too large to represent counts as 2^31.
DELTA_SECONDS_LIMIT = 2**31
_DIGITS = frozenset("0123456789")


def parse_delta_seconds(value: str) -> int | None:
    """PURE. An RFC 9111 delta-seconds (ASCII digits, optionally quoted), at most 2^31.

    Anything else (a sign, a fraction, "inf", digits of another script) gives None.
    """
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if not text or not _DIGITS.issuperset(text):
        return None
    text = text.lstrip("0") or "0"
    if len(text) > len(str(DELTA_SECONDS_LIMIT)):  # never int() a 5,000-digit string
        return DELTA_SECONDS_LIMIT
    return min(int(text), DELTA_SECONDS_LIMIT)


def parse_http_date(value: str) -> datetime | None:
    """PURE. An HTTP-date (RFC 9110 section 5.6.7) as an aware datetime, or None if unreadable
    (including a year or an offset out of range). A date without a zone is taken as UTC."""
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def seconds_until(when: datetime, now: datetime) -> float:
    """PURE. Seconds from now to when, within [0, DELTA_SECONDS_LIMIT] (a past date gives 0)."""
    return min(max(0.0, (when - now).total_seconds()), float(DELTA_SECONDS_LIMIT))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """PURE. Seconds to wait from a Retry-After header (delta-seconds or HTTP-date).

    A date in the past gives 0; an unreadable value gives None; the result is at most
    DELTA_SECONDS_LIMIT (callers clamp it further, with `bounded_delay`).
    """
    if value is None or not value.strip():
        return None
    seconds = parse_delta_seconds(value)
    if seconds is not None:
        return float(seconds)
    when = parse_http_date(value)
    return None if when is None else seconds_until(when, now)


def bounded_delay(seconds: float, limit: timedelta) -> timedelta:
    """PURE. A server-given delay as a timedelta in [0, limit], clamped before the timedelta
    is made: NaN and negatives give 0, infinity and anything beyond give `limit`."""
    if math.isnan(seconds) or seconds <= 0:
        return timedelta(0)
    if seconds >= limit.total_seconds():
        return limit
    return timedelta(seconds=seconds)
