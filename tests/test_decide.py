"""Pure decisions: canonical URLs, what is new, first-poll max_age, scheduling and backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor import decide
from monitor.types import ParsedItem, SourceState
from monitor.urls import canonical_url

NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize("a, b", [
    ("https://example.org/a/b?utm_source=rss&utm_medium=feed", "https://example.org/a/b"),
    ("HTTP://WWW.Example.ORG:80/a/b/#comments", "https://example.org/a/b"),
    ("https://example.org/a?b=2&a=1", "https://example.org/a?a=1&b=2"),
    ("https://example.org/a?fbclid=xyz&id=7", "https://example.org/a?id=7"),
    ("https://example.org:443/a", "https://example.org/a"),
])
def test_canonical_urls_equal(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b) != ""


@pytest.mark.parametrize("a, b", [
    ("https://example.org/a?id=7", "https://example.org/a?id=8"),
    ("https://example.org/A", "https://example.org/a"),
    ("https://example.org:8080/a", "https://example.org/a"),
])
def test_canonical_urls_differ(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


def test_non_http_urls_have_no_canonical_form() -> None:
    assert canonical_url("javascript:alert(1)") == ""
    assert canonical_url("") == ""


def item(guid: str, url: str = "", published: datetime | None = NOW,
         title: str = "A headline") -> ParsedItem:
    return ParsedItem(guid=guid, url=url or f"https://example.org/{guid}", title=title,
                      published=published)


def polled() -> SourceState:
    return SourceState(name="s", url="https://example.org/rss", first_polled_at=NOW - HOUR)


def test_known_guid_is_not_new_even_with_an_edited_title() -> None:
    new = decide.select_new_items(polled(), [item("1", title="Edited headline"), item("2")],
                                  {"1"}, {}, NOW, 48 * HOUR)
    assert [n.item.guid for n in new] == ["2"]
    assert new[0].alert


def test_same_url_from_another_source_is_recorded_not_alerted() -> None:
    new = decide.select_new_items(polled(), [item("x", "https://example.org/story?utm_source=a")],
                                  set(), {"https://example.org/story": 41}, NOW, 48 * HOUR)
    assert new[0].reason == "duplicate" and new[0].duplicate_of == 41 and not new[0].alert


def test_duplicates_within_one_feed() -> None:
    new = decide.select_new_items(polled(), [item("a", "https://example.org/s"),
                                             item("b", "https://example.org/s#top"),
                                             item("a")], set(), {}, NOW, 48 * HOUR)
    assert [(n.item.guid, n.reason) for n in new] == [("a", "new"), ("b", "duplicate")]


def test_first_poll_records_old_items_without_alerting() -> None:
    first = SourceState(name="s", url="https://example.org/rss")
    items = [item("old", published=NOW - 72 * HOUR), item("fresh", published=NOW - HOUR),
             item("undated", published=None)]
    new = {n.item.guid: n.reason for n in
           decide.select_new_items(first, items, set(), {}, NOW, 48 * HOUR)}
    assert new == {"old": "old", "fresh": "new", "undated": "new"}
    # After the first poll, an old item that appears is alerted: it is new to us.
    later = decide.select_new_items(polled(), items[:1], set(), {}, NOW, 48 * HOUR)
    assert later[0].alert


def test_next_poll_jitter_and_cache_headers() -> None:
    interval = timedelta(minutes=15)
    low = decide.next_poll(NOW, interval, 0.0)
    high = decide.next_poll(NOW, interval, 0.999)
    assert NOW + interval * 0.9 <= low < high < NOW + interval * 1.1
    later = decide.next_poll(NOW, interval, 0.5, {"Cache-Control": "public, max-age=3600"})
    assert later == NOW + HOUR
    capped = decide.next_poll(NOW, interval, 0.5, {"cache-control": "max-age=999999"})
    assert capped == NOW + decide.MAX_CACHE_HINT
    expires = decide.next_poll(NOW, interval, 0.5,
                               {"Expires": "Thu, 03 Jul 2025 14:00:00 GMT"})
    assert expires == NOW + 2 * HOUR


def test_backoff_grows_to_a_ceiling_and_honours_retry_after() -> None:
    interval, ceiling = timedelta(minutes=10), timedelta(hours=6)
    delays = [decide.backoff(n, interval, ceiling, 0.5) for n in range(1, 12)]
    assert delays == sorted(delays)
    assert delays[0] == interval and delays[-1] == ceiling
    assert decide.backoff(1, interval, ceiling, 0.5, retry_after=7200) == 2 * HOUR


def test_failure_then_recovery() -> None:
    state = polled()
    for _ in range(3):
        state = decide.after_failure(state, NOW, error="FetchError: HTTP 500", interval=HOUR,
                                     max_backoff=6 * HOUR, jitter=0.5)
    assert state.consecutive_failures == 3 and state.failing_since == NOW
    assert decide.health(state, NOW, HOUR) == "failing"
    state = decide.after_success(state, NOW + HOUR, status="ok", interval=HOUR, jitter=0.5,
                                 items=10, new=2)
    assert state.consecutive_failures == 0 and state.failing_since is None
    assert state.items_seen == 2 and decide.health(state, NOW + HOUR, HOUR) == "ok"


def test_gone_sources_keep_being_tried() -> None:
    state = decide.after_failure(polled(), NOW, error="FetchError: HTTP 410 Gone",
                                 interval=HOUR, max_backoff=6 * HOUR, jitter=0.5, gone=True)
    assert state.gone and state.next_poll_at == NOW + 6 * HOUR
    assert decide.health(state, NOW, HOUR) == "gone"


def test_not_modified_keeps_validators() -> None:
    state = SourceState(name="s", url="u", etag='"v1"', last_modified="Mon", first_polled_at=NOW)
    after = decide.after_success(state, NOW, status="not_modified", interval=HOUR, jitter=0.5)
    assert (after.etag, after.last_modified) == ('"v1"', "Mon")


def ok_poll(state: SourceState, new: int, status: str = "ok", capped: int = 0) -> SourceState:
    return decide.after_success(state, NOW, status=status, interval=HOUR, jitter=0.5,
                                new=new if status == "ok" else 0, capped=capped)


def test_a_flood_is_far_above_the_usual_and_never_a_first_poll() -> None:
    first = ok_poll(SourceState(name="s", url="u"), 400)
    assert first.flooding_since is None and first.new_per_poll == 0   # a whole feed
    state = first
    for _ in range(30):
        state = ok_poll(state, 3)
    assert 2.5 < state.new_per_poll < 3
    assert ok_poll(state, decide.FLOOD_MIN_NEW).flooding_since is None
    flood = ok_poll(state, 900, capped=850)
    assert flood.flooding_since == NOW and decide.health(flood, NOW, HOUR) == "flooding"
    assert (flood.last_new, flood.last_capped) == (900, 850)


def test_a_flood_lasts_until_a_usual_poll_and_becomes_the_usual_only_slowly() -> None:
    state = SourceState(name="s", url="u", first_polled_at=NOW - HOUR, new_per_poll=2.0)
    for _ in range(10):
        state = ok_poll(state, 1000, capped=950)
        assert state.flooding_since == NOW
    assert state.new_per_poll < 10          # ten polls of 1,000 are not yet its usual
    state = ok_poll(state, 0, status="unchanged")
    assert state.flooding_since == NOW and state.last_capped == 950   # nothing read: kept
    state = ok_poll(state, 4)
    assert state.flooding_since is None and state.last_capped == 0
    assert decide.health(state, NOW, HOUR) == "ok"
