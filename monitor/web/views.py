"""PURE: stored records -> what the status page and the page of one source show.

Every string that came from a feed, a server or the config is cleaned here (one line,
capped) and escaped by the templates' autoescape; times are shown in UTC with how long
ago (or how soon) they are. No I/O, no clock: ``now`` comes from the caller.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from monitor.cluster import NodeInfo as ClusterNode
from monitor.cluster import alive
from monitor.decide import health
from monitor.digest import (
    NAME_LIMIT,
    TITLE_LIMIT,
    URL_LIMIT,
    StoryView,
    clean_text,
    one_line,
    safe_link,
    seconds_utc,
    shown_link,
    story_view,
)
from monitor.liveness import RecentPoll
from monitor.types import SourceHealth, SourceState, StoredItem, Story
from monitor.urls import without_credentials
from monitor.web.context import NodeInfo

ERROR_LIMIT = 600
# The order of the status page: what needs a person first.
HEALTH_ORDER: tuple[SourceHealth, ...] = ("failing", "gone", "flooding", "silent", "new", "ok")
RETRYABLE = frozenset({"pending", "failed", "dead"})


@dataclass(frozen=True)
class When:
    """A moment as the page shows it: "3m ago" (or "in 5m"), with the UTC time beside."""

    relative: str
    exact: str

    def __bool__(self) -> bool:
        return bool(self.exact)


NEVER = When("-", "")


def relative(moment: datetime, now: datetime) -> str:
    """ "just now", "42s ago", "3m ago", "5h ago", "2d ago", or "in 4m" for the future."""
    seconds = (moment - now).total_seconds()
    size = abs(seconds)
    if size < 5:
        return "just now"
    for unit, scale in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if size >= scale:
            amount = f"{int(size // scale)}{unit}"
            return f"in {amount}" if seconds > 0 else f"{amount} ago"
    return "just now"  # pragma: no cover - size >= 5 has a unit


def duration(delta: timedelta) -> str:
    """ "1h", "1h30m", "90s": a configured interval as the config would write it."""
    seconds, parts = int(delta.total_seconds()), []
    for unit, scale in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= scale:
            parts.append(f"{seconds // scale}{unit}")
            seconds %= scale
    return "".join(parts) or "0s"


def when(moment: datetime | None, now: datetime) -> When:
    if moment is None:
        return NEVER
    return When(relative(moment, now), seconds_utc(moment))


def source_href(name: str) -> str:
    """The path of a source's page; its name percent-encoded (a name may hold "/")."""
    return "/sources/" + quote(name, safe="")


@dataclass(frozen=True)
class SourceRow:
    name: str
    href: str
    url: str
    health: SourceHealth
    last_status: str
    last_fetch: When
    last_success: When
    last_error: str        # kept after a recovery: the page shows it with its time
    last_error_at: When
    failing_since: When
    consecutive_failures: int
    next_poll: When
    items_seen: int


def source_row(name: str, url: str, state: SourceState | None, now: datetime,
               interval: timedelta) -> SourceRow:
    """One source as the pages list it; never polled (no stored state) is "new"."""
    verdict: SourceHealth = health(state, now, interval) if state else "new"
    error = clean_text(state.last_error, ERROR_LIMIT) if state else ""
    return SourceRow(
        name=one_line(name, NAME_LIMIT), href=source_href(name),
        url=one_line(without_credentials(state.url if state else url), URL_LIMIT),
        health=verdict, last_status=state.last_status or "-" if state else "-",
        last_fetch=when(state.last_fetch_at if state else None, now),
        last_success=when(state.last_success_at if state else None, now),
        last_error=error, last_error_at=when(state.last_error_at if state else None, now),
        failing_since=when(state.failing_since if state else None, now),
        consecutive_failures=state.consecutive_failures if state else 0,
        next_poll=when(state.next_poll_at if state else None, now),
        items_seen=state.items_seen if state else 0)


@dataclass(frozen=True)
class SourceList:
    rows: list[SourceRow]                       # those shown
    counts: list[tuple[SourceHealth, int]]      # sources in each health, HEALTH_ORDER
    total: int

    @property
    def hidden(self) -> int:
        return self.total - len(self.rows)


def source_list(configured: Iterable[tuple[str, str, timedelta]],
                states: Iterable[SourceState], now: datetime,
                ok_shown: int | None = None) -> SourceList:
    """The configured sources ((name, url, interval) each), those needing a person first
    (failing, gone, flooding, silent, new, then ok), by name within each; of the ok ones,
    only the first ``ok_shown`` (None: all). Rows are made for the shown ones only."""
    by_name = {s.name: s for s in states}
    rank = {h: i for i, h in enumerate(HEALTH_ORDER)}
    judged = []
    for name, url, interval in configured:
        state = by_name.get(name)
        verdict: SourceHealth = health(state, now, interval) if state else "new"
        judged.append((rank[verdict], name.casefold(), name, url, interval, state, verdict))
    judged.sort(key=lambda j: (j[0], j[1]))
    counts = Counter(j[6] for j in judged)
    shown = len(judged) if ok_shown is None else len(judged) - counts["ok"] + ok_shown
    rows = [source_row(name, url, state, now, interval)
            for _, _, name, url, interval, state, _ in judged[:shown]]
    return SourceList(rows, [(h, counts[h]) for h in HEALTH_ORDER if counts[h]], len(judged))


def latest_stories(stories: Sequence[Story], limit: int) -> list[StoryView]:
    """The ``limit`` stories flagged last (newest first seen first), cleaned for display."""
    return [story_view(s) for s in sorted(stories, key=lambda s: s.id, reverse=True)[:limit]]


@dataclass(frozen=True)
class DeliveryRow:
    id: str
    notifier: str
    kind: str
    status: str
    stories: int
    attempts: int
    created: When
    next_attempt: When
    last_error: str
    retryable: bool


def delivery_rows(rows: Iterable[Mapping[str, Any]], now: datetime) -> list[DeliveryRow]:
    """The store's delivery rows (monitor.store.base.Store.delivery_rows) for display;
    dead ones first, then failed, then the others, oldest first within each."""
    order = {"dead": 0, "failed": 1, "sending": 2, "pending": 3}

    def moment(value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    shown = [DeliveryRow(
        id=one_line(str(r["id"]), NAME_LIMIT), notifier=one_line(r["notifier"], NAME_LIMIT),
        kind=r["kind"], status=r["status"], stories=int(r.get("stories") or 0),
        attempts=int(r["attempts"]), created=when(moment(r["created_at"]), now),
        next_attempt=NEVER if r["status"] == "dead" else when(moment(r["next_attempt_at"]),
                                                              now),
        last_error=clean_text(r.get("last_error"), ERROR_LIMIT),
        retryable=r["status"] in RETRYABLE) for r in rows]
    return sorted(shown, key=lambda d: order.get(d.status, 9))


@dataclass(frozen=True)
class PollRow:
    at: When
    status: str
    items: int
    new: int
    matched: int
    duration: str
    error: str


def poll_rows(polls: Iterable[RecentPoll], now: datetime) -> list[PollRow]:
    return [PollRow(when(p.at, now), p.status, p.items, p.new, p.matched,
                    f"{p.duration:.2f}s", clean_text(p.error, ERROR_LIMIT)) for p in polls]


@dataclass(frozen=True)
class ItemRow:
    title: str
    url: str
    link: str | None
    first_seen: When
    published: When
    alerted: bool
    stories: str          # "taliban-recognition #12" for each story the item joined


def item_rows(items: Iterable[StoredItem], now: datetime) -> list[ItemRow]:
    rows = []
    for item in items:
        url = shown_link(item.url)
        rows.append(ItemRow(
            title=one_line(item.title, TITLE_LIMIT) or "(untitled)",
            url=one_line(url, URL_LIMIT), link=safe_link(url),
            first_seen=when(item.first_seen, now), published=when(item.published, now),
            alerted=item.alert,
            stories=", ".join(f"{one_line(m.topic, NAME_LIMIT)} #{m.story_id}"
                              for m in item.matches)))
    return rows


def node_list(nodes: Iterable[ClusterNode], now: datetime,
              lease_timeout: timedelta) -> list[NodeInfo]:
    """The status page's nodes: each by its id, host and pid, with what it holds; a node
    silent for lease_timeout is said lost (its leases have lapsed)."""
    rows = []
    for node in nodes:
        held = [f"{node.sources} source{'' if node.sources == 1 else 's'} leased",
                *node.singletons]
        if not alive(node, now, lease_timeout):
            held.insert(0, "lost")
        rows.append(NodeInfo(f"{node.id} ({node.identity.host} pid {node.identity.pid})",
                             node.heartbeat_at, ", ".join(held)))
    return rows
