"""A poll's commit, the sources' sync with the config, and the event ledger's start.

A poll's commit: the store writes the items, reads what the planners need, and applies
their intents, all in one transaction (a poll's items, stories, outbox rows, incidents and
source state are committed together or not at all: docs/crash-safety.md).

The decisions are monitor/plan.py's (pure); the store (monitor/store/) only reads and writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.events import KnownEvent, event_keys
from monitor.intents import CommitFacts
from monitor.plan import (
    alerting_stories,
    plan_backfill,
    plan_health,
    plan_seed,
    plan_sources,
    plan_stories,
)
from monitor.store.base import PollWriter, Store
from monitor.types import NewItem, PollRecord, StoryDecision


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Committed:
    """What a poll's commit did that its caller needs."""

    widened: dict[int, tuple[str, ...]]    # stories whose actors grew -> their actors now
    alerting: tuple[tuple[str, str | None], ...] = ()   # (topic, category) of each story
    #                                                     opened that alerts


def sync_sources(store: Store, sources: Iterable[tuple[str, str]], now: datetime) -> None:
    """Make the stored sources match the config: (name, configured URL) pairs; those gone
    from it are retired (kept, not polled). Called at start, before any poll."""
    store.apply_sources(plan_sources(sources, store.stored_sources(), now,
                                     store.retired_sources()))


def settle_ledger(store: Store, shipped: Sequence[KnownEvent], now: datetime) -> int:
    """At start, in one transaction: the shipped file's entries into the event ledger
    (monitor.plan.plan_seed), then the stories stored by a version without the ledger
    placed in it (plan_backfill). Returns how many stories were placed."""
    with store.poll_transaction() as writer:
        stored = writer.known_events({(e.state, e.kind) for e in shipped})
        writer.apply(plan_seed(shipped, stored), now)
        pending = writer.pending_stories()
        if pending:
            known = writer.known_events(event_keys([p.classification for p in pending]))
            writer.apply(plan_backfill(pending, known), now)
        return len(pending)


def commit_poll(store: Store, record: PollRecord, subscribers: Mapping[str, Sequence[str]],
                now: datetime, new_id: Callable[[], str] = _new_id,
                owner: str | None = None) -> Committed:
    """Commit a poll: source state (releasing the source's lease), new items, stories,
    outbox rows and health incidents; nothing when a node other than ``owner`` holds the
    source's lease (StoreError).

    ``subscribers`` maps a topic name to the notifiers that alert on it; ``new_id`` names
    the health digests. Returns the stories whose actors grew (story id -> all its actors
    now), for the grouper's index, and the stories opened that alert, for the metrics.
    """
    with store.poll_transaction(owner) as writer:
        return commit_in(writer, record, subscribers, now, new_id)


@dataclass(frozen=True)
class EarlyItems:
    """A poll's items inserted before its commit's other writes (`insert_early`)."""

    new_items: tuple[NewItem, ...]    # as they were inserted (alert or not)
    linked: frozenset[int]            # those whose row ids were kept
    inserted: frozenset[int]          # of ``linked``, those whose rows were inserted


def insert_early(writer: PollWriter, source: str, new_items: Sequence[NewItem],
                 decisions: Sequence[StoryDecision], now: datetime) -> EarlyItems:
    """Insert a poll's items first, on its open transaction, before it takes the record
    lock (PostgreSQL: the rows are written while other polls commit); `commit_in` then
    brings them up to the poll's final decisions."""
    linked = _linked(new_items, decisions)
    return EarlyItems(tuple(new_items), frozenset(linked),
                      writer.insert_items(source, new_items, linked, now))


def commit_in(writer: PollWriter, record: PollRecord, subscribers: Mapping[str, Sequence[str]],
              now: datetime, new_id: Callable[[], str] = _new_id,
              early: EarlyItems | None = None) -> Committed:
    """`commit_poll` on an open transaction; ``early``: the poll's items, inserted before."""
    writer.write_state(record.state)
    linked = _linked(record.new_items, record.stories)
    if early is None:
        inserted = writer.insert_items(record.state.name, record.new_items, linked, now)
    else:
        inserted = _bring_up(writer, record, early, linked)
    originals = [(original, decision.topic) for decision in record.stories
                 if decision.item in inserted
                 for original in (record.new_items[decision.item].duplicate_of,)
                 if original is not None]
    stories_of = writer.stories_of(originals)
    touched = {d.story_id for d in record.stories if d.story_id is not None}
    ledger = writer.known_events(event_keys([d.classification for d in record.stories
                                             if d.story_id is None]))
    facts = CommitFacts(inserted, stories_of,
                        writer.story_states(touched | set(stories_of.values())), ledger)
    stories = plan_stories(record, facts, subscribers, now)
    widened = writer.apply(stories + plan_health(record.health, now, new_id), now)
    return Committed(widened, alerting_stories(stories))


def _linked(new_items: Sequence[NewItem], decisions: Sequence[StoryDecision]) -> set[int]:
    """The items that a story or a duplicate link refers to: they need their row id."""
    linked = {decision.item for decision in decisions}
    linked.update(i for i, n in enumerate(new_items) if n.duplicate_of is not None)
    return linked


def _bring_up(writer: PollWriter, record: PollRecord, early: EarlyItems,
              linked: set[int]) -> frozenset[int]:
    """The items inserted early, brought to the poll's final decisions: those that may no
    longer alert (found duplicates, or capped, since) are recorded only; the row ids of
    those that intents now refer to are read. Returns the linked items whose rows the
    poll inserted."""
    source = record.state.name
    demoted = [final.item.guid
               for was, final in zip(early.new_items, record.new_items, strict=True)
               if was.alert and not final.alert]
    if demoted:
        writer.record_only(source, demoted)
    inserted = early.inserted & linked
    missing = sorted(linked - early.linked)
    if missing:
        inserted |= writer.item_ids(source, record.new_items, missing)
    return inserted
