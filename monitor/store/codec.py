"""How records are stored as text: ISO 8601 times, and digests frozen as JSON."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any, get_args

from monitor.types import Digest, ErrorKind, SourceState, Story, StorySource

# A source's state is one row of the sources table, column by field (both backends).
STATE_COLUMNS = tuple(f.name for f in fields(SourceState))
TIME_COLUMNS = frozenset(c for c in STATE_COLUMNS if c.endswith(("_at", "_since")))
assert STATE_COLUMNS[0] == "name" and STATE_COLUMNS[-1] == "gone"  # the backends rely on it


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


_ERROR_KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)


def error_kind(value: str | None) -> ErrorKind | None:
    """A stored error kind; None for none, or for a kind this version does not know."""
    for kind in _ERROR_KINDS:
        if value == kind:
            return kind
    return None


def _story_to_json(story: Story) -> dict[str, Any]:
    return {"id": story.id, "topic": story.topic, "title": story.title, "url": story.url,
            "published": iso(story.published), "category": story.category,
            "score": story.score, "actors": list(story.actors), "evidence": story.evidence,
            "summary": story.summary,
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
              sources=tuple(StorySource(x["source"], x["url"], x["title"],
                                        parse_iso(x["published"])) for x in s["sources"]))
        for s in data["stories"])
    return Digest(id=data["id"], notifier=data["notifier"],
                  created_at=datetime.fromisoformat(data["created_at"]), stories=stories,
                  kind=data.get("kind", "stories"), text=data.get("text", ""))
