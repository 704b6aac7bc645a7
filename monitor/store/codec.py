"""How records are stored and read back, for both backends: ISO 8601 times and digests
frozen as JSON, and the rows of the reads whose mapping SQLite and PostgreSQL share.

A row is read by column name (sqlite3.Row and psycopg's dict rows both are); a time is
ISO text on SQLite and a datetime on PostgreSQL (`as_time`), a list or object JSON text on
SQLite and decoded jsonb on PostgreSQL (`as_json`), a flag 0/1 or a boolean (`bool`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, Protocol, cast, get_args

from monitor.events import EventReport, KnownEvent, LedgerEntry
from monitor.intents import PendingStory
from monitor.types import (
    CachedArticle,
    Classification,
    Digest,
    ErrorKind,
    EventKind,
    EvidenceSource,
    HealthFacts,
    Novelty,
    PastMatch,
    SourceState,
    StoredItem,
    Story,
    StoryEvent,
    StoryKey,
    StorySource,
)

# A source's state is one row of the sources table, column by field (both backends).
STATE_COLUMNS = tuple(f.name for f in fields(SourceState))
TIME_COLUMNS = frozenset(c for c in STATE_COLUMNS if c.endswith(("_at", "_since")))
assert STATE_COLUMNS[0] == "name" and STATE_COLUMNS[-1] == "gone"  # the backends rely on it


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


_ERROR_KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)
_EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)


def error_kind(value: str | None) -> ErrorKind | None:
    """A stored error kind; None for none, or for a kind this version does not know."""
    for kind in _ERROR_KINDS:
        if value == kind:
            return kind
    return None


_EVIDENCE_SOURCES: tuple[EvidenceSource, ...] = get_args(EvidenceSource)


def evidence_source(value: str | None) -> EvidenceSource:
    """A stored story's evidence source; "headline" for one stored before it was kept."""
    for source in _EVIDENCE_SOURCES:
        if value == source:
            return source
    return "headline"


def event_to_json(event: StoryEvent | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {"state": event.state, "kind": event.kind, "first_title": event.first_title,
            "first_seen": iso(event.first_seen), "first_url": event.first_url}


def event_from_json(data: dict[str, Any] | None) -> StoryEvent | None:
    if not data:
        return None
    return StoryEvent(data["state"], data["kind"], data["first_title"],
                      datetime.fromisoformat(data["first_seen"]), data.get("first_url", ""))


def stored_kind(event: str | dict[str, Any] | None) -> EventKind | None:
    """The kind of step of a story's stored ledger event (the ``event`` column's JSON);
    None for none, or for a kind this version does not know."""
    if not event:
        return None
    kind = as_json(event).get("kind")
    for known in _EVENT_KINDS:
        if kind == known:
            return known
    return None


def novelty(value: str | None) -> Novelty | None:
    return "first" if value == "first" else "follow_up" if value == "follow_up" else None


def _story_to_json(story: Story) -> dict[str, Any]:
    return {"id": story.id, "topic": story.topic, "title": story.title, "url": story.url,
            "published": iso(story.published), "category": story.category,
            "score": story.score, "actors": list(story.actors), "evidence": story.evidence,
            "summary": story.summary, "novelty": story.novelty,
            "event": event_to_json(story.event),
            "first_seen": iso(story.first_seen),
            "evidence_source": story.evidence_source,
            "sources": [{"source": s.source, "url": s.url, "title": s.title,
                         "published": iso(s.published)} for s in story.sources]}


def digest_to_json(digest: Digest) -> dict[str, Any]:
    """The stored form of a digest (not the webhook body: see monitor.digest)."""
    return {"id": digest.id, "notifier": digest.notifier, "kind": digest.kind,
            "text": digest.text, "created_at": iso(digest.created_at),
            "stories": [_story_to_json(s) for s in digest.stories]}


def digest_from_json(data: dict[str, Any]) -> Digest:
    stories = tuple(
        Story(id=s["id"], topic=s["topic"], title=s["title"], url=s["url"],
              published=parse_iso(s["published"]), category=s["category"], score=s["score"],
              actors=tuple(s["actors"]), evidence=s["evidence"], summary=s.get("summary", ""),
              novelty=novelty(s.get("novelty")), event=event_from_json(s.get("event")),
              first_seen=parse_iso(s.get("first_seen")),
              evidence_source=s.get("evidence_source"),
              sources=tuple(StorySource(x["source"], x["url"], x["title"],
                                        parse_iso(x["published"])) for x in s["sources"]))
        for s in data["stories"])
    return Digest(id=data["id"], notifier=data["notifier"],
                  created_at=datetime.fromisoformat(data["created_at"]), stories=stories,
                  kind=data.get("kind", "stories"), text=data.get("text", ""))


# -- rows, as both backends read them ---------------------------------------------------


class Row(Protocol):
    """A row read by column name: sqlite3.Row, or psycopg's dict_row."""

    def __getitem__(self, key: str, /) -> Any: ...


def as_time(value: str | datetime | None) -> datetime | None:
    """A stored time: ISO 8601 text (SQLite) or a timestamptz (PostgreSQL)."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value) if value else None


def as_json(value: Any) -> Any:
    """A stored JSON value: text (SQLite), or jsonb decoded already (PostgreSQL)."""
    return json.loads(value) if isinstance(value, str) else value


def hour_key(moment: datetime) -> str:
    """The article_counts row of a moment: its UTC hour, "2025-07-03T10"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def story_from_row(r: Row, sources: Sequence[StorySource]) -> Story:
    """A stories row (every column) and its reports."""
    return Story(id=r["id"], topic=r["topic"], title=r["title"], url=r["url"],
                 published=as_time(r["published"]), category=r["category"], score=r["score"],
                 actors=tuple(as_json(r["actors"])), evidence=r["evidence"],
                 sources=tuple(sources), summary=r["summary"],
                 first_seen=as_time(r["first_seen"]), novelty=novelty(r["novelty"]),
                 evidence_source=r["evidence_source"],
                 event=event_from_json(as_json(r["event"])))


def story_source(r: Row) -> StorySource:
    """An item row (source, url, title, published) as a report of its story."""
    return StorySource(r["source"], r["url"], r["title"], as_time(r["published"]))


def story_key(r: Row) -> StoryKey:
    """A row of (id, topic, title, summary, category, actors, first_seen, event)."""
    return StoryKey(id=r["id"], topic=r["topic"], title=r["title"], summary=r["summary"],
                    category=r["category"], actors=tuple(as_json(r["actors"])),
                    seen_at=_time(r["first_seen"]), kind=stored_kind(r["event"]))


def stored_items(rows: Iterable[Row], match_rows: Iterable[Row]) -> list[StoredItem]:
    """Item rows (id, source, url, title, summary, published, first_seen, alert), each
    with the stories of ``match_rows`` (item_id, id, topic, alert, evidence) it is in."""
    matches: dict[int, list[PastMatch]] = {}
    for r in match_rows:
        matches.setdefault(r["item_id"], []).append(
            PastMatch(r["topic"], r["id"], bool(r["alert"]), r["evidence"]))
    return [StoredItem(id=r["id"], source=r["source"], url=r["url"], title=r["title"],
                       summary=r["summary"], published=as_time(r["published"]),
                       first_seen=_time(r["first_seen"]), alert=bool(r["alert"]),
                       matches=tuple(matches.get(r["id"], ())))
            for r in rows]


def pending_story(r: Row) -> PendingStory:
    """A stories row (every column the ledger's placing reads) and its ``first_item``."""
    return PendingStory(
        id=r["id"], item=r["first_item"], title=r["title"], url=r["url"],
        published=as_time(r["published"]), first_seen=_time(r["first_seen"]),
        classification=Classification(
            topic=r["topic"], match=True, score=r["score"], category=r["category"],
            actors=tuple(as_json(r["actors"])), evidence=r["evidence"],
            rules=tuple(as_json(r["rules"])),
            evidence_source=evidence_source(r["evidence_source"])))


def known_event(r: Row) -> KnownEvent:
    """An events row (state, kind, title, first_seen, url, origin, source)."""
    return KnownEvent(r["state"], cast(EventKind, r["kind"]), r["title"],
                      _time(r["first_seen"]), r["url"],
                      "shipped" if r["origin"] == "shipped" else "monitor", r["source"])


def ledger_entries(event_rows: Iterable[Row], report_rows: Iterable[Row]
                   ) -> list[LedgerEntry]:
    """The ledger from its events rows (id, the columns of `known_event`, story_id) and
    event_reports rows (event_id, story_id, title, url, first_seen), in the rows' order."""
    reports: dict[int, list[EventReport]] = {}
    for r in report_rows:
        reports.setdefault(r["event_id"], []).append(
            EventReport(r["story_id"], r["title"], r["url"], _time(r["first_seen"])))
    entries = []
    for r in event_rows:
        event = known_event(r)
        first = (EventReport(r["story_id"], event.title, event.url, event.seen)
                 if event.origin == "monitor" else None)
        entries.append(LedgerEntry(event, first, tuple(reports.get(r["id"], ()))))
    return entries


def health_facts(r: Row) -> HealthFacts:
    """A sources row of the columns decide.health reads."""
    return HealthFacts(r["name"], bool(r["gone"]), r["consecutive_failures"],
                       as_time(r["last_success_at"]), as_time(r["flooding_since"]),
                       as_time(r["last_new_item_at"]), as_time(r["first_polled_at"]))


def cached_article(r: Row) -> CachedArticle:
    """An articles row (url, fetched_at, text, error)."""
    return CachedArticle(r["url"], _time(r["fetched_at"]), r["text"], r["error"])


def _time(value: str | datetime) -> datetime:
    found = as_time(value)
    assert found is not None, "a NOT NULL time column"
    return found

