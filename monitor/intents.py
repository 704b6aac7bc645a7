"""Intents: what a poll's commit writes, as decided by the pure planners.

The planners (monitor/plan.py) decide which story an item joins, whether a story alerts,
which notifiers are queued, how a story's actors grow and which health digests are sent.
They return these records; a store backend applies them, in order, inside the poll's one
transaction, and decides nothing (lemon24/reader's Decider -> intents -> storage).

A story opened by the same commit has no row id yet: intents name it by ``Opened``, and
the store maps it to the id its insert got.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from monitor.events import KnownEvent
from monitor.types import (
    Classification,
    Digest,
    EventKind,
    Novelty,
    SourceState,
    StoryEvent,
)


@dataclass(frozen=True)
class Opened:
    """The story opened in this commit by ``new_items[item]`` for ``topic``."""

    item: int
    topic: str


StoryRef = int | Opened   # a stored story's id, or one opened by this commit


@dataclass(frozen=True)
class StoryState:
    """What the story planner reads of a stored story: whether it alerted, its actors."""

    alert: bool
    actors: tuple[str, ...]


@dataclass(frozen=True)
class PendingStory:
    """A stored story not yet placed in the event ledger (stored by a version without
    it), as the ledger's planner reads it (monitor/plan.py, ``plan_backfill``)."""

    id: int
    item: int | None               # its first item (the report that opened it), if any left
    title: str
    url: str
    published: datetime | None
    first_seen: datetime
    classification: Classification   # its verdict, as stored (topic, category, actors,
    #                                  score, evidence, rules)


@dataclass(frozen=True)
class CommitFacts:
    """What the store read, inside the commit's transaction, for the planner."""

    inserted: frozenset[int]   # indexes into new_items whose rows were inserted
    stories_of: dict[tuple[int, str], int]   # (stored item id, topic) -> its story
    stories: dict[int, StoryState]           # stored stories the decisions may touch
    # the ledger's entries for the (state, kind) of the poll's matches (monitor/events.py)
    events: Mapping[tuple[str, EventKind], KnownEvent] = field(default_factory=dict)


# -- story intents ----------------------------------------------------------

@dataclass(frozen=True)
class LinkCopy:
    """``new_items[item]`` is a copy of stored item ``original``: it joins its stories."""

    item: int
    original: int


@dataclass(frozen=True)
class OpenStory:
    """Open a story led by ``new_items[ref.item]``; ``alert`` False records it only."""

    ref: Opened
    title: str
    summary: str
    url: str
    published: datetime | None
    classification: Classification
    alert: bool
    novelty: Novelty | None = None     # its place in the event ledger (monitor/events.py)
    event: StoryEvent | None = None


@dataclass(frozen=True)
class JoinStory:
    """``new_items[item]`` is one of the story's items."""

    item: int
    story: StoryRef


@dataclass(frozen=True)
class MarkAlerted:
    """A story recorded without alert is alerted now (a fresh report of it came)."""

    story: StoryRef


@dataclass(frozen=True)
class WidenActors:
    """The story's actors are now ``actors`` (the union of its items')."""

    story: StoryRef
    actors: tuple[str, ...]


@dataclass(frozen=True)
class QueueStory:
    """Outbox rows: the story waits for the next digest of each of these notifiers."""

    story: StoryRef
    notifiers: tuple[str, ...]


@dataclass(frozen=True)
class OpenEvent:
    """A new ledger entry, first reported by the story ``story`` (None: a shipped entry);
    nothing when the ledger has one for its (state, kind) already."""

    event: KnownEvent
    story: StoryRef | None


@dataclass(frozen=True)
class FollowEvent:
    """The story ``story`` is a later report of the ledger's (state, kind): the ledger
    keeps the report's headline, URL and date (``seen``), which outlive the story."""

    state: str
    kind: EventKind
    story: StoryRef
    title: str
    url: str
    seen: datetime


@dataclass(frozen=True)
class SupersedeEvent:
    """A shipped entry older than the monitor's entry of its (state, kind) is the true first
    report: it takes the entry's place, and the entry's first report becomes a later
    report of it."""

    event: KnownEvent


@dataclass(frozen=True)
class SetNovelty:
    """A stored story's place in the ledger, decided after it was stored (a story of a
    version without the ledger): its novelty and event, None for none."""

    story: int
    novelty: Novelty | None
    event: StoryEvent | None


# -- source intents ---------------------------------------------------------

@dataclass(frozen=True)
class AddSource:
    """A source new to the config: polled from ``next_poll_at``."""

    name: str
    url: str
    next_poll_at: datetime


@dataclass(frozen=True)
class MoveSource:
    """The operator changed a source's URL to ``config_url``: its state is now ``state``."""

    config_url: str
    state: SourceState


@dataclass(frozen=True)
class RetireSource:
    """A source gone from the config: its row and history stay, it is no longer polled."""

    name: str
    at: datetime


@dataclass(frozen=True)
class RestoreSource:
    """A retired source back in the config: polled again from its stored next poll time."""

    name: str


SourceChange = AddSource | MoveSource | RetireSource | RestoreSource


# -- health intents ---------------------------------------------------------

@dataclass(frozen=True)
class OpenIncident:
    source: str
    kind: str
    opened_at: datetime
    detail: str


@dataclass(frozen=True)
class CloseIncident:
    """Close the incident ``incident``, or (None) the open one of (source, kind)."""

    source: str
    kind: str
    incident: int | None


@dataclass(frozen=True)
class RecordHealthAlert:
    """``notifier`` was alerted of the incident (``incident`` None: the open one)."""

    source: str
    kind: str
    incident: int | None
    notifier: str


@dataclass(frozen=True)
class QueueDigest:
    """A delivery made at once (a health alert or recovery notice), pending."""

    digest: Digest


Intent = (LinkCopy | OpenStory | JoinStory | MarkAlerted | WidenActors | QueueStory
          | OpenEvent | FollowEvent | SupersedeEvent | SetNovelty
          | OpenIncident | CloseIncident | RecordHealthAlert | QueueDigest)
