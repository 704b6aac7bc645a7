"""PURE: what a poll's commit writes, as intents (monitor/intents.py) for the store to apply.

- ``plan_stories``: for each match, the story it joins (the one the grouper chose, else the
  story of the earlier item of this poll it was grouped with, else the story its original
  is in when the item is a copy of a stored article, else a new story); whether a new
  story alerts (not when its item is too old); a record-only story alerted when a fresh
  report of it comes; a story's actors widened to the union of its items'; the outbox
  rows, one per notifier subscribed to the topic; a new story's place in the event ledger
  (monitor/events.py: the first report of a state's step of a kind, or a follow-up of it).
- ``plan_seed`` and ``plan_backfill``, at start: the shipped ledger entries, and the place
  in the ledger of the stories an older version stored.
- ``plan_sources``: the configured sources against the stored ones: a new name is added,
  a changed URL makes a new feed of the source (monitor/decide.py, ``after_url_change``), a
  source gone from the config is retired (kept, not polled), and restored when it is back.
- ``plan_health``: the incident changes of monitor/health.py as writes, and one digest
  per notifier told, with its id.

No I/O and no clock: the store reads the facts (``CommitFacts``) inside the commit's
transaction, and applies the intents in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from monitor.decide import after_url_change
from monitor.events import EventDecision, KnownEvent, plan_event
from monitor.intents import (
    AddSource,
    CloseIncident,
    CommitFacts,
    FollowEvent,
    Intent,
    JoinStory,
    LinkCopy,
    MarkAlerted,
    MoveSource,
    Opened,
    OpenEvent,
    OpenIncident,
    OpenStory,
    PendingStory,
    RecordHealthAlert,
    RestoreSource,
    RetireSource,
    SetNovelty,
    SourceChange,
    StoryRef,
    StoryState,
    SupersedeEvent,
    WidenActors,
)
from monitor.outbox import queue_notice, queue_story
from monitor.types import Classification, EventKind, HealthChange, PollRecord, SourceState


def union(known: tuple[str, ...], more: tuple[str, ...]) -> tuple[str, ...]:
    """``known`` then the states of ``more`` it lacks, in order."""
    return known + tuple(a for a in dict.fromkeys(more) if a not in known)


LedgerKey = tuple[str, EventKind]


@dataclass
class _Ledger:
    """The ledger as a batch of stories is placed in it: the stored entries read for the
    batch, and those the batch opens, with the report (item) that opened each."""

    entries: dict[LedgerKey, KnownEvent]
    opened_by: dict[LedgerKey, int] = field(default_factory=dict)

    def place(self, verdict: Classification, title: str, url: str, seen: datetime,
              report: int | None, story: StoryRef) -> tuple[EventDecision, list[Intent]]:
        """The place of a story opened by ``report`` (None: unknown) and the ledger's
        writes. A report is never its own follow-up: the story it opens in a second topic
        is a first report too, and writes nothing."""
        own = ({k for k, by in self.opened_by.items() if by == report}
               if report is not None else set())
        known = {k: e for k, e in self.entries.items() if k not in own} if own else self.entries
        event = plan_event(verdict, title, url, seen, known)
        writes: list[Intent] = []
        for entry in event.opens:
            key = (entry.state, entry.kind)
            if key in own:      # the entry this report opened in another topic
                return EventDecision("first", self.entries[key].as_event(), (), ()), []
            self.entries[key] = entry
            if report is not None:
                self.opened_by[key] = report
            writes.append(OpenEvent(entry, story))
        writes.extend(FollowEvent(state, kind, story, title, url, seen)
                      for state, kind in event.follows)
        return event, writes


def plan_stories(record: PollRecord, facts: CommitFacts,
                 subscribers: Mapping[str, Sequence[str]], now: datetime) -> tuple[Intent, ...]:
    """The story intents of a poll's commit, in the order they are applied.

    Items whose rows were not inserted (another writer stored the same guid meanwhile)
    take no part. A match grouped with an earlier one of the poll (``same_as``) joins the
    story that one joined or opened. Where that one joined none of them (not inserted), or
    only its original's story (a copy of a stored article: a link, not the grouper's
    choice, and the story may be weeks old), the first of its followers stands in for it:
    the others join the story it joins or opens. A story opened here takes its place in
    the event ledger (monitor/events.py): the first report of a state's step of a kind, or
    a follow-up.
    """
    intents: list[Intent] = []
    ledger = _Ledger(dict(facts.events))
    for index, new in enumerate(record.new_items):
        if index in facts.inserted and new.duplicate_of is not None:
            intents.append(LinkCopy(index, new.duplicate_of))
    states: dict[StoryRef, StoryState] = {ref: state for ref, state in facts.stories.items()}
    placed: dict[tuple[int, str], StoryRef] = {}   # (item, topic) -> its story, to share
    for decision in record.stories:
        index = decision.item
        if index not in facts.inserted:
            continue
        new, topic = record.new_items[index], decision.topic
        story: StoryRef | None = decision.story_id
        if story is None and decision.same_as is not None:
            story = placed.get((decision.same_as, topic))
        by_link = False
        if story is None and new.duplicate_of is not None:
            story = facts.stories_of.get((new.duplicate_of, topic))
            by_link = story is not None
        if story is None:
            # A duplicate URL whose earlier copy matched nothing is news to this topic.
            alert = new.reason != "old"
            ref = Opened(index, topic)
            verdict = decision.classification
            # An old report (recorded, not alerted) dates its step from its publication.
            seen = min(new.item.published or now, now)
            event, writes = ledger.place(verdict, new.item.title, new.item.url, seen, index,
                                         ref)
            intents.append(OpenStory(ref, new.item.title, new.item.summary, new.item.url,
                                     new.item.published, verdict, alert, event.novelty,
                                     event.event))
            intents.extend(writes)
            if alert:
                intents.extend(queue_story(ref, topic, subscribers))
            states[ref] = StoryState(alert, verdict.actors)
            story = ref
        else:
            # A story the facts lack is gone from the store: the join fails on its row.
            state = states.get(story, StoryState(True, ()))
            if new.reason == "new" and not state.alert:
                # A fresh report of a story first seen as too old: alert it now.
                state = states[story] = StoryState(True, state.actors)
                intents.append(MarkAlerted(story))
                intents.extend(queue_story(story, topic, subscribers))
            actors = decision.classification.actors
            grown = union(state.actors, actors) if actors else state.actors
            if grown != state.actors:
                states[story] = StoryState(state.alert, grown)
                intents.append(WidenActors(story, grown))
        intents.append(JoinStory(index, story))
        if not by_link:   # a story reached through a link is not handed on
            placed[(index, topic)] = story
            if decision.same_as is not None:
                placed.setdefault((decision.same_as, topic), story)
    return tuple(intents)


def plan_seed(shipped: Sequence[KnownEvent],
              stored: Mapping[LedgerKey, KnownEvent]) -> tuple[Intent, ...]:
    """The shipped file's entries into the ledger (``stored``: its entries of their keys):
    each one it lacks is added; one dated before the monitor's entry of its (state, kind)
    replaces it (the monitor saw a later report: its story becomes a follow-up)."""
    intents: list[Intent] = []
    for entry in shipped:
        have = stored.get((entry.state, entry.kind))
        if have is None:
            intents.append(OpenEvent(entry, None))
        elif have.origin == "monitor" and entry.seen < have.seen:
            intents.append(SupersedeEvent(entry))
    return tuple(intents)


def plan_backfill(pending: Sequence[PendingStory],
                  known: Mapping[LedgerKey, KnownEvent]) -> tuple[Intent, ...]:
    """The place in the ledger of stories stored before it existed (an upgraded database),
    in the order they were seen, as ``plan_stories`` would have placed them: each story's
    novelty and event (None where it reports no step), and the ledger's writes."""
    ledger = _Ledger(dict(known))
    intents: list[Intent] = []
    for story in sorted(pending, key=lambda p: (p.first_seen, p.id)):
        seen = min(story.published or story.first_seen, story.first_seen)
        event, writes = ledger.place(story.classification, story.title, story.url, seen,
                                     story.item, story.id)
        intents.append(SetNovelty(story.id, event.novelty, event.event))
        intents.extend(writes)
    return tuple(intents)


def alerting_stories(intents: Sequence[Intent]) -> tuple[tuple[str, str | None], ...]:
    """(topic, category) of each story the intents open that alerts, at once or when a
    fresh report of the same poll joins it. A story recorded as too old by an earlier
    poll and alerted by a fresh report of this one is not among them."""
    alerted = {i.story for i in intents if isinstance(i, MarkAlerted)}
    return tuple((i.ref.topic, i.classification.category) for i in intents
                 if isinstance(i, OpenStory) and (i.alert or i.ref in alerted))


def plan_sources(configured: Iterable[tuple[str, str]],
                 stored: Mapping[str, tuple[str, SourceState]],
                 now: datetime, retired: Collection[str] = ()) -> tuple[SourceChange, ...]:
    """Make the stored sources match the config: (name, configured URL) pairs against
    ``stored`` (name -> its configured URL as stored, its state), of which ``retired`` are
    the names no longer polled. A stored source gone from the config is retired (kept, not
    polled); a retired one back in it is restored."""
    known = dict(stored)
    intents: list[SourceChange] = []
    names = set()
    for name, url in configured:
        names.add(name)
        if name not in known:
            intents.append(AddSource(name, url, now))
            known[name] = (url, SourceState(name, url, next_poll_at=now))
            continue
        if name in retired:
            intents.append(RestoreSource(name))
        if known[name][0] != url:
            state = after_url_change(known[name][1], url, now)
            intents.append(MoveSource(url, state))
            known[name] = (url, state)
    intents += [RetireSource(name, now) for name in sorted(stored)
                if name not in names and name not in retired]
    return tuple(intents)


def plan_health(changes: Sequence[HealthChange], now: datetime,
                new_id: Callable[[], str]) -> tuple[Intent, ...]:
    """The incident writes of ``changes``, and one digest per notifier told (its id from
    ``new_id``); ``incident`` None names the open incident of the change's source and kind
    (one opened by an earlier change of the same list)."""
    intents: list[Intent] = []
    for change in changes:
        if change.action == "open":
            intents.append(OpenIncident(change.source, change.kind, change.opened_at,
                                        change.text))
            continue
        if change.action == "close":
            intents.append(CloseIncident(change.source, change.kind, change.incident_id))
        for notifier in change.notifiers:
            if change.action == "alert":
                intents.append(RecordHealthAlert(change.source, change.kind,
                                                 change.incident_id, notifier))
            intents.append(queue_notice(new_id(), notifier, now, change.text))
    return tuple(intents)
