"""How records are stored as text: ISO 8601 times, and digests frozen as JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, get_args

from monitor.types import (
    Digest,
    ErrorKind,
    EventKind,
    EvidenceSource,
    Novelty,
    Story,
    StoryEvent,
    StorySource,
)


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


def stored_kind(event: str | None) -> EventKind | None:
    """The kind of step of a story's stored ledger event (the ``event`` column's JSON);
    None for none, or for a kind this version does not know."""
    if not event:
        return None
    kind = json.loads(event).get("kind")
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
