"""PURE decisions of a poll: what is new, when to poll next, what a failure does to a source.

Every function takes data and the current time and returns records: no I/O, no clock,
no randomness of its own (jitter is passed in as a number in [0, 1)).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from monitor.headers import bounded_delay, parse_delta_seconds, parse_http_date, seconds_until
from monitor.types import (
    ErrorKind,
    HealthFacts,
    NewItem,
    NewItemReason,
    ParsedItem,
    PollStatus,
    SourceHealth,
    SourceState,
)
from monitor.urls import canonical_url as canonical_url  # re-exported for the pipeline

JITTER = 0.1                       # a source's interval varies by +-10%
MAX_CACHE_HINT = timedelta(hours=6)
# A source floods when one poll brings more than FLOOD_FACTOR times its usual new items,
# and more than FLOOD_MIN_NEW. Its usual is a moving average of new items per poll (the
# last poll weighs USUAL_WEIGHT); a flooding poll counts as at most twice the usual, so a
# flood that lasts becomes the usual only slowly (from 2 to 100 a poll: about 40 polls).
FLOOD_MIN_NEW = 50
FLOOD_FACTOR = 10
USUAL_WEIGHT = 0.1


def select_new_items(state: SourceState, items: Iterable[ParsedItem], known_guids: set[str],
                     known_urls: Mapping[str, int], now: datetime, max_age: timedelta,
                     canonical: Mapping[str, str] | None = None,
                     forgotten: Collection[str] = ()) -> tuple[NewItem, ...]:
    """The items this source has not delivered before, each marked alert or record-only.

    New means: a guid this source has not delivered. An item whose canonical URL another
    source already delivered is recorded (as a duplicate of that item) but not alerted.
    On a source's first poll, items published before now - max_age are recorded only.
    An edited headline keeps its guid, so it is not new. `canonical` may hold the
    canonical form of the items' URLs, already computed by the caller. `forgotten` holds the
    canonical URLs of items deleted by retention (only their keys are left): a new guid with
    such a URL is old news, recorded only.
    """
    canonical = canonical or {}
    first_poll = state.first_polled_at is None
    seen_guids = set(known_guids)
    seen_urls: dict[str, int | None] = dict(known_urls)
    new: list[NewItem] = []
    for item in items:
        if item.guid in seen_guids:
            continue
        seen_guids.add(item.guid)
        url = canonical.get(item.url)
        if url is None:
            url = canonical_url(item.url)
        duplicate_of = seen_urls.get(url) if url else None
        is_duplicate = bool(url) and url in seen_urls
        too_old = first_poll and item.published is not None and item.published < now - max_age
        too_old = too_old or (bool(url) and not is_duplicate and url in forgotten)
        reason: NewItemReason = "duplicate" if is_duplicate else "old" if too_old else "new"
        new.append(NewItem(item=item, canonical_url=url, reason=reason,
                           duplicate_of=duplicate_of))
        if url and url not in seen_urls:
            seen_urls[url] = None
    return tuple(new)


def jittered(interval: timedelta, jitter: float) -> timedelta:
    """interval scaled by a factor in [1 - JITTER, 1 + JITTER), from jitter in [0, 1)."""
    return interval * (1 - JITTER + 2 * JITTER * jitter)


def cache_hint(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """How long the server says the response stays fresh (Cache-Control max-age or
    s-maxage, else Expires), at most MAX_CACHE_HINT; None when it says nothing readable."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for directive in lowered.get("cache-control", "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() in ("max-age", "s-maxage"):
            seconds = parse_delta_seconds(value)
            if seconds is not None:
                return bounded_delay(seconds, MAX_CACHE_HINT)
    when = parse_http_date(lowered.get("expires", ""))
    if when is None:
        return None
    return bounded_delay(seconds_until(when, now), MAX_CACHE_HINT)


def next_poll(now: datetime, interval: timedelta, jitter: float,
              headers: Mapping[str, str] | None = None) -> datetime:
    """When to poll a healthy source again: its interval with jitter, or later if the
    server's caching headers ask for it (at most MAX_CACHE_HINT)."""
    delay = jittered(interval, jitter)
    hint = cache_hint(headers or {}, now)
    if hint is not None:
        delay = max(delay, hint)
    return now + delay


def exponential_delay(attempt: int, base: timedelta, cap: timedelta, jitter: float) -> timedelta:
    """The wait after the `attempt`-th consecutive failure (>= 1), for polls and deliveries
    alike: base, 2x, 4x ... up to cap, times a jitter factor in [0.75, 1.25)."""
    exponent = min(max(attempt - 1, 0), 30)
    # Compared in seconds, so that a long base times 2^30 cannot overflow a timedelta.
    capped = cap if base.total_seconds() * 2 ** exponent >= cap.total_seconds() \
        else base * 2 ** exponent
    return capped * (0.75 + 0.5 * jitter)


def backoff(failures: int, interval: timedelta, max_backoff: timedelta, jitter: float,
            retry_after: float | None = None) -> timedelta:
    """Exponential backoff with jitter after `failures` consecutive failures (>= 1):
    interval, 2x, 4x ... up to max_backoff; never sooner than a server's Retry-After,
    which is honoured up to twice max_backoff."""
    delay = exponential_delay(failures, interval, max_backoff, jitter)
    if retry_after is not None:
        delay = max(delay, bounded_delay(retry_after, max_backoff * 2))
    return max(delay, timedelta(seconds=1))


def flooding(state: SourceState, new: int) -> bool:
    """Whether a poll bringing ``new`` items is a flood for this source (never its first
    poll, which brings a whole feed)."""
    if state.first_polled_at is None:
        return False
    return new > max(FLOOD_MIN_NEW, FLOOD_FACTOR * state.new_per_poll)


def after_success(state: SourceState, now: datetime, *, status: PollStatus, interval: timedelta,
                  jitter: float, headers: Mapping[str, str] | None = None,
                  etag: str | None = None, last_modified: str | None = None,
                  body_hash: str | None = None, url: str | None = None,
                  items: int | None = None, new: int = 0, capped: int = 0) -> SourceState:
    """The source's state after a poll that worked (status ok, not_modified or unchanged).

    ``new``: the poll's new items, ``capped`` of them past the poll's cap. Only a poll
    that read a changed body (ok) starts or ends a flood; every poll counts in the usual.
    """
    flood = flooding(state, new) if status == "ok" else state.flooding_since is not None
    usual = state.new_per_poll
    if state.first_polled_at is not None:
        counted = min(new, 2 * max(usual, 1.0)) if flood else new
        usual += USUAL_WEIGHT * (counted - usual)
    return replace(
        state,
        url=url or state.url,
        etag=etag if status == "ok" or etag else state.etag,
        last_modified=last_modified if status == "ok" or last_modified else state.last_modified,
        body_hash=body_hash or state.body_hash,
        first_polled_at=state.first_polled_at or now,
        last_fetch_at=now,
        last_success_at=now,
        last_new_item_at=now if new else state.last_new_item_at,
        last_status=status,
        failing_since=None,
        consecutive_failures=0,
        next_poll_at=next_poll(now, interval, jitter, headers),
        items_seen=state.items_seen + new,
        last_items=state.last_items if items is None else items,
        last_new=new,
        new_per_poll=usual,
        flooding_since=(state.flooding_since or now) if flood else None,
        last_capped=capped if status == "ok" else state.last_capped,
        gone=False,
    )


def after_failure(state: SourceState, now: datetime, *, error: str, interval: timedelta,
                  max_backoff: timedelta, jitter: float, retry_after: float | None = None,
                  gone: bool = False, kind: ErrorKind | None = None) -> SourceState:
    """The source's state after a failed poll. A source is never dropped: a gone (410)
    source is still tried, at the longest backoff, in case it comes back.

    `kind` is what failed, kept beside the message (by default: gone, or fetch)."""
    failures = state.consecutive_failures + 1
    delay = max_backoff if gone else backoff(failures, interval, max_backoff, jitter, retry_after)
    return replace(
        state,
        last_fetch_at=now,
        last_status="gone" if gone else "error",
        last_error=error,
        last_error_at=now,
        last_error_kind=kind or ("gone" if gone else "fetch"),
        failing_since=state.failing_since or now,
        consecutive_failures=failures,
        next_poll_at=now + delay,
        last_new=0,
        gone=gone,
    )


def after_url_change(state: SourceState, url: str, now: datetime) -> SourceState:
    """The operator changed the source's URL: a new feed. Its validators and redirects are
    forgotten, and its next poll (now) is a first poll again (max_age applies)."""
    return replace(state, url=url, etag=None, last_modified=None, body_hash=None, gone=False,
                   first_polled_at=None, last_new_item_at=None, next_poll_at=now)


def health(state: SourceState | HealthFacts, now: datetime,
           interval: timedelta) -> SourceHealth:
    """A verdict for `monitor status`: new, ok, failing, flooding, silent or gone.

    It reads only the fields of HealthFacts (the metrics' narrow read of 10,000 sources):
    a rule on another field of SourceState needs that field added there too, which mypy
    asks for.

    flooding: its last polls brought far more new items than usual (see ``flooding``).
    silent: it works, but has brought nothing new for much longer than its cadence
    (20 intervals and at least 3 days).
    """
    if state.gone:
        return "gone"
    if state.consecutive_failures:
        return "failing"
    if state.last_success_at is None:
        return "new"
    if state.flooding_since is not None:
        return "flooding"
    quiet_since = state.last_new_item_at or state.first_polled_at
    if quiet_since is not None and now - quiet_since > max(interval * 20, timedelta(days=3)):
        return "silent"
    return "ok"


def healths(intervals: Mapping[str, timedelta], states: Iterable[SourceState | HealthFacts],
            now: datetime) -> dict[str, SourceHealth]:
    """Each configured source's verdict, as `monitor status` gives it: ``intervals`` maps
    the configured sources to their poll intervals; one the store has no state of is new.
    Stored sources no longer configured are left out."""
    verdicts: dict[str, SourceHealth] = dict.fromkeys(intervals, "new")
    for state in states:
        if state.name in verdicts:
            verdicts[state.name] = health(state, now, intervals[state.name])
    return verdicts
