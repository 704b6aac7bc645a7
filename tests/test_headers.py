"""Delays servers give in headers (Retry-After, Cache-Control max-age, Expires): whatever the
value, it is read within bounds and clamped before any arithmetic."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import decide
from monitor.config import load_config_data
from monitor.deliver import RETRY_AFTER_MAX, next_attempt
from monitor.errors import NotifyError
from monitor.headers import (
    DELTA_SECONDS_LIMIT,
    bounded_delay,
    parse_delta_seconds,
    parse_http_date,
    parse_retry_after,
)
from monitor.types import SourceState

NOW = datetime(2025, 7, 3, 13, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
INTERVAL, MAX_BACKOFF = timedelta(minutes=15), timedelta(hours=6)

HOSTILE = [
    "100000000000000",                       # the value of the report: 3 million years
    "9" * 30, "1" * 5000,                    # beyond a float's and int()'s limits
    "Fri, 31 Dec 9999 23:59:59 GMT",         # the last representable second
    "Fri, 31 Dec 9999 23:59:59 -2359",       # ... seen from the last time zone
    "Sat, 01 Jan 0001 00:00:00 +2359",       # the first one
    "Thu, 01 Jan 99999999999999999999 00:00:00 GMT",   # a year no datetime holds
    "Thu, 01 Jan 2025 00:00:00 +99999999999999999999",  # an offset no int holds
    "Thu, 01 Jan 2025 00:00:00 +9999",       # an offset beyond a day
    "-5", "-0", "1.5", "1e9", "inf", "-inf", "nan", "NaN", "Infinity",
    "١٢٣", "²", "１２", "0x10", "+60", "60 ", '"60"', "", "   ", "\x00", "soon",
]


@pytest.mark.parametrize(("value", "expected"), [
    ("30", 30.0), ("0", 0.0), ("0030", 30.0), (" 120 ", 120.0),
    ("100000000000000", float(DELTA_SECONDS_LIMIT)), ("1" * 5000, float(DELTA_SECONDS_LIMIT)),
    ("Thu, 03 Jul 2025 13:02:00 GMT", 120.0), ("Thu, 03 Jul 2025 12:00:00 GMT", 0.0),
    ("Fri, 31 Dec 9999 23:59:59 GMT", float(DELTA_SECONDS_LIMIT)),
    ("Sat, 01 Jan 0001 00:00:00 +2359", 0.0),
    ("Thu, 01 Jan 99999999999999999999 00:00:00 GMT", None),
    ("-5", None), ("1.5", None), ("inf", None), ("nan", None), ("١٢٣", None), ("²", None),
    ("", None), (None, None),
])
def test_retry_after_is_read_within_bounds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("3600", 3600), ('"3600"', 3600), ("0", 0), ("9" * 30, DELTA_SECONDS_LIMIT),
    ("١٢٣", None), ("²", None), ("-1", None), ("1.5", None), ("", None), ('"', None),
])
def test_delta_seconds_are_ascii_digits_capped_at_2_31(value: str, expected: int | None) -> None:
    assert parse_delta_seconds(value) == expected


@pytest.mark.parametrize(("seconds", "expected"), [
    (90.0, timedelta(seconds=90)), (-5.0, timedelta(0)), (math.nan, timedelta(0)),
    (math.inf, HOUR), (1e300, HOUR), (1e14, HOUR),
])
def test_bounded_delay_clamps_before_making_a_timedelta(seconds: float,
                                                        expected: timedelta) -> None:
    assert bounded_delay(seconds, HOUR) == expected


@pytest.mark.parametrize("value", ["max-age=100000000000000", "s-maxage=" + "9" * 5000,
                                   'max-age="100000000000000"'])
def test_huge_max_age_is_clamped_to_the_cache_hint_bound(value: str) -> None:
    assert decide.cache_hint({"Cache-Control": value}, NOW) == decide.MAX_CACHE_HINT
    assert decide.next_poll(NOW, INTERVAL, 0.5, {"Cache-Control": value}) == \
        NOW + decide.MAX_CACHE_HINT


@pytest.mark.parametrize("value", ["max-age=١٢٣٤٥", "max-age=²", "max-age=-60",
                                   "max-age=1.5e9", "max-age=inf"])
def test_unreadable_max_age_is_ignored(value: str) -> None:
    assert decide.cache_hint({"Cache-Control": value}, NOW) is None


def test_expires_far_future_is_clamped_and_unreadable_ignored() -> None:
    assert decide.cache_hint({"Expires": "Fri, 31 Dec 9999 23:59:59 GMT"}, NOW) == \
        decide.MAX_CACHE_HINT
    assert decide.cache_hint({"Expires": "Thu, 01 Jan 99999999999999999999 00:00:00 GMT"},
                             NOW) is None
    assert decide.cache_hint({"Expires": "0"}, NOW) is None
    assert decide.cache_hint({"Expires": "Thu, 03 Jul 2025 14:00:00 -0000"}, NOW) == HOUR


def test_huge_retry_after_on_a_source_waits_twice_max_backoff() -> None:
    huge = parse_retry_after("100000000000000", NOW)
    assert decide.backoff(1, INTERVAL, MAX_BACKOFF, 0.5, huge) == 2 * MAX_BACKOFF
    state = decide.after_failure(decide.after_success(
        SourceState(name="s", url="u"), NOW, status="ok", interval=INTERVAL,
        jitter=0.5), NOW, error="FetchError: HTTP 503", interval=INTERVAL,
        max_backoff=MAX_BACKOFF, jitter=0.5, retry_after=math.inf)
    assert state.next_poll_at == NOW + 2 * MAX_BACKOFF


def test_long_interval_backoff_does_not_overflow() -> None:
    assert decide.backoff(40, timedelta(days=30), MAX_BACKOFF, 0.5) == MAX_BACKOFF


NOTIFIER = load_config_data({"topics": [{"name": "t", "event": "recognition"}], "notifiers": [
    {"name": "n", "type": "file", "path": "x", "give_up_after": "30d"}]}).notifiers[0]


def test_huge_retry_after_on_a_delivery_waits_the_documented_bound() -> None:
    error = NotifyError("HTTP 503", retry_after=parse_retry_after("100000000000000", NOW))
    assert next_attempt(1, NOW, NOW, NOTIFIER, error, 0.5) == NOW + RETRY_AFTER_MAX
    assert next_attempt(1, NOW, NOW, NOTIFIER, NotifyError("x", retry_after=math.inf),
                        0.5) == NOW + RETRY_AFTER_MAX


# -- properties over any header value --------------------------------------------------------

_date_text = st.builds(
    lambda day, month, year, hh, mm, ss, zone: f"Thu, {day} {month} {year} {hh}:{mm}:{ss} {zone}",
    st.integers(-5, 99), st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
    st.one_of(st.integers(0, 10000), st.integers(10**6, 10**30)),
    st.integers(0, 10**20), st.integers(0, 99), st.integers(0, 99),
    st.one_of(st.sampled_from(["GMT", "UTC", "-0000", "EST", "Z"]),
              st.integers(-10**20, 10**20).map(lambda n: f"{n:+05d}")))
_number_text = st.one_of(
    st.integers(-10**40, 10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=12))
header_values = st.one_of(st.text(max_size=60), _date_text, _number_text,
                          st.sampled_from(HOSTILE))


@settings(max_examples=400, deadline=None)
@given(header_values)
def test_any_retry_after_reads_within_bounds_and_backs_off_sanely(value: str) -> None:
    seconds = parse_retry_after(value, NOW)
    assert seconds is None or 0.0 <= seconds <= DELTA_SECONDS_LIMIT
    delay = decide.backoff(3, INTERVAL, MAX_BACKOFF, 0.5, seconds)
    assert timedelta(seconds=1) <= delay <= 2 * MAX_BACKOFF
    when = next_attempt(1, NOW, NOW, NOTIFIER, NotifyError("x", retry_after=seconds), 0.5)
    assert when is not None and NOW < when <= NOW + RETRY_AFTER_MAX


@settings(max_examples=400, deadline=None)
@given(header_values, st.sampled_from(["max-age", "s-maxage", "Expires"]))
def test_any_caching_header_gives_a_next_poll_within_bounds(value: str, name: str) -> None:
    headers = {"Expires": value} if name == "Expires" else {"Cache-Control": f"{name}={value}"}
    hint = decide.cache_hint(headers, NOW)
    assert hint is None or timedelta(0) <= hint <= decide.MAX_CACHE_HINT
    when = decide.next_poll(NOW, INTERVAL, 0.5, headers)
    assert NOW + INTERVAL <= when <= NOW + decide.MAX_CACHE_HINT


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_http_dates_never_raise(value: str) -> None:
    when = parse_http_date(value)
    assert when is None or when.tzinfo is not None
