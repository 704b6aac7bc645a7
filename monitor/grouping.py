"""The stories stage of a poll: each match joins a story of its topic, or opens one.

Two outlets polled at once must still make one story, so grouping once ran whole under the
pipeline's record lock, and a poll with many matches held every other source's commit. It
now runs in two steps:

- ``group``, outside the record lock: each match is looked up in its topic's index of open
  stories (monitor/story_index.py: the cost of a lookup does not grow with the number of
  open stories), an index kept in memory and brought up to date from the store with the
  stories committed since it last looked. One poll opens at most ``max_new_per_poll``
  alerting stories: the items past that are "capped", recorded as seen without alert.
- ``settle``, under the record lock, just before the commit: the matches are checked
  against the stories committed by other polls since ``group`` looked, and only those, so
  two outlets polled at once still make one story. The matches without a committed story
  are also checked against the stories widened since: a story may have gained a match's
  acting state meanwhile (a report naming both states joined it). Where other processes
  commit too (the nodes sharing a store, the workers of a node), the acting states of the
  stories the poll's openers could join are read again first: this index learns of their
  widening no other way. Where a match
  of the poll joins a committed story at settle, the poll's matches of that topic still
  without one are grouped again among themselves, as ``group`` groups a poll; past
  ``max_new_per_poll`` alerting stories (those opened in the topics not regrouped count
  first, then poll order), an item is capped at settle (``Settled.capped``). An item
  capped in ``group`` stays capped.

A story's actors are the union of its items': the commit widens them as items naming more
states join (monitor/plan.py), and ``widen`` brings the indexes along after the commit (a
story grown to ``MAX_STORY_ACTORS`` states is logged: it takes in no further state).

The decisions themselves are monitor/stories.py's (pure); this module keeps the indexes
and the locks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.events import event_kind
from monitor.plan import union
from monitor.store.base import Store
from monitor.stories import MAX_STORY_ACTORS, Prepared, choose_story, prepare
from monitor.story_index import StoryIndex
from monitor.types import Classification, EventKind, NewItem, StoryDecision, StoryKey

log = logging.getLogger("monitor.stories")

# Two matches of one poll may be one story whatever their publication times.
POLL_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class Grouping:
    """What ``group`` decided for one poll, for ``settle`` to finish under the lock."""

    decisions: tuple[StoryDecision, ...]
    capped: frozenset[int]          # new_items past the cap: recorded, not alerted, no story
    seen: Mapping[str, int]         # topic -> the highest story id the lookups could see
    prepared: Mapping[int, Prepared]   # new_items index -> its text, prepared once
    revisions: Mapping[str, int]    # topic -> its index's revision when the lookups began


@dataclass(frozen=True)
class Settled:
    """The final decisions of a poll, and the items capped at settle besides ``group``'s
    (a poll regrouped there may open more stories than it did in ``group``)."""

    decisions: tuple[StoryDecision, ...]
    capped: frozenset[int] = frozenset()


class _Topic:
    """One topic's index and the lock serialising its use (lookups score outside it)."""

    def __init__(self) -> None:
        self.index = StoryIndex()
        self.lock = threading.Lock()


class StoryGrouper:
    """Groups the matches of polls; safe to call from several threads.

    ``shared``: other processes commit stories to the store too (by default, when several
    nodes share the store): what they widen is read again at settle.
    """

    def __init__(self, store: Store, window: timedelta, max_new_per_poll: int, *,
                 shared: bool | None = None) -> None:
        self.store = store
        self.shared = store.shared if shared is None else shared
        self.window = window
        self.max_new_per_poll = max_new_per_poll
        self._topics: dict[str, _Topic] = {}
        self._lock = threading.Lock()

    def group(self, new_items: Sequence[NewItem],
              classified: Sequence[StoryDecision], now: datetime) -> Grouping:
        """Attach each match to an open story of its topic, or to one opened in this poll,
        or open a story; past ``max_new_per_poll`` opened alerting stories, cap the item."""
        seen = {topic: self._refresh(topic, now)
                for topic in dict.fromkeys(d.topic for d in classified)}
        revisions = {topic: self._topic(topic).index.revision for topic in seen}
        in_poll: dict[str, StoryIndex] = {}
        prepared: dict[int, Prepared] = {}
        grouped: list[StoryDecision] = []
        capped: set[int] = set()
        opening: set[int] = set()          # items opening an alerting story
        for decision in classified:
            index = decision.item
            if index in capped:
                continue
            new, topic, verdict = new_items[index], decision.topic, decision.classification
            item = prepared.get(index)
            if item is None:
                item = prepared[index] = prepare(new.item.title, new.item.summary)
            kind = event_kind(verdict)
            story_id = self._find(topic, item, verdict.category, verdict.actors, kind, now)
            poll_index = in_poll.setdefault(topic, StoryIndex())
            same_as = None
            if story_id is None:
                same_as = poll_index.find(topic, item, verdict.category, verdict.actors, now,
                                          POLL_WINDOW, kind=kind)
            opens = story_id is None and same_as is None
            if opens and new.reason == "new" and index not in opening:
                if len(opening) >= self.max_new_per_poll:
                    capped.add(index)
                    while grouped and grouped[-1].item == index:  # its other topics' decisions
                        grouped.pop()
                    continue
                opening.add(index)
            grouped.append(StoryDecision(index, topic, verdict, story_id, same_as))
            if same_as is not None:
                _join_in_poll(poll_index, same_as, verdict.actors)
            if opens:
                _open_in_poll(poll_index, index, topic, item, verdict, kind, now)
        return Grouping(tuple(grouped), frozenset(capped), seen, prepared, revisions)

    def settle(self, grouping: Grouping, now: datetime, fresh: frozenset[int]) -> Settled:
        """The final decisions, against the stories committed, or widened, since ``group``
        looked. ``fresh``: the poll's new items still "new" (alerting) now, those that
        count against ``max_new_per_poll`` (not those found duplicates meanwhile).

        Call it under the lock that serialises commits, right before committing.
        """
        latest = {topic: self._refresh(topic, now) for topic in grouping.seen}
        changed = {topic for topic, last in latest.items() if last != grouping.seen[topic]}
        decisions = list(grouping.decisions)
        for position, decision in enumerate(decisions):
            if decision.topic not in changed:
                continue
            story_id = self._recheck(decision, grouping.prepared[decision.item],
                                     grouping.seen[decision.topic], now)
            if story_id is not None and story_id != decision.story_id:
                decisions[position] = replace(decision, story_id=story_id, same_as=None)
        self._join_widened(decisions, grouping, now)
        # A match of this poll now joining a committed story may have widened the poll's
        # own story, which others joined through it: those are grouped again.
        moved = {after.topic for before, after in zip(grouping.decisions, decisions,
                                                      strict=True)
                 if before.story_id is None and after.story_id is not None}
        capped = _regroup(decisions, moved, grouping.prepared, now, fresh,
                          self.max_new_per_poll)
        return Settled(tuple(decisions), capped)

    def widen(self, widened: Mapping[int, tuple[str, ...]]) -> None:
        """Committed stories whose actors grew (story id -> all its actors now): index them
        under their new states. Call it after the commit that widened them."""
        for story_id, actors in widened.items():
            if len(actors) >= MAX_STORY_ACTORS:
                log.warning("story %d now names %d acting states (%s): it takes in no "
                            "further state", story_id, len(actors), ", ".join(actors))
            for entry in list(self._topics.values()):
                with entry.lock:
                    entry.index.widen(story_id, actors)

    def forget(self) -> None:
        """Drop every topic's index: each is read again from the store when next used
        (after a failed commit whose settles indexed stories it did not keep)."""
        with self._lock:
            self._topics.clear()

    def _join_widened(self, decisions: list[StoryDecision], grouping: Grouping,
                      now: datetime) -> None:
        """The matches without a committed story, checked against the stories of their
        topic widened since ``group`` looked: such a story may have gained a match's acting
        state meanwhile (a report naming both states joined it). Where other processes
        commit too (``shared``), the acting states of the stories the poll's openers could
        join are read again first: this index learns of their widening no other way. A
        match one of them takes joins it (``decisions`` is updated)."""
        for topic in dict.fromkeys(d.topic for d in decisions if d.story_id is None):
            entry = self._topic(topic)
            if self.shared:
                self._learn_actors(entry, [d for d in decisions if d.topic == topic
                                           and d.story_id is None and d.same_as is None
                                           and d.classification.actors], grouping.prepared)
            with entry.lock:
                widened = entry.index.widened_since(grouping.revisions[topic])
            if widened == []:
                continue
            pool = None if widened is None else [(s.key, s.prepared) for s in widened]
            for position, decision in enumerate(decisions):
                if decision.topic != topic or decision.story_id is not None:
                    continue
                verdict, item = decision.classification, grouping.prepared[decision.item]
                kind = event_kind(verdict)
                story_id = (self._find(topic, item, verdict.category, verdict.actors, kind, now)
                            if pool is None else   # too many widenings: a full lookup
                            choose_story(topic, item, verdict.category, verdict.actors, now,
                                         pool, self.window, kind=kind))
                if story_id is not None:
                    decisions[position] = replace(decision, story_id=story_id, same_as=None)

    def _learn_actors(self, entry: _Topic, decisions: Sequence[StoryDecision],
                      prepared: Mapping[int, Prepared]) -> None:
        """Index the stories these matches could join under the acting states committed
        now (by any node): those of their category sharing a headline word, whatever
        states the index knows them by, and for a step, those of that step posted under
        one of its states (reports in another language share no word)."""
        ids: set[int] = set()
        with entry.lock:
            for decision in decisions:
                item, verdict = prepared[decision.item], decision.classification
                kind = event_kind(verdict)
                ids.update(c.key.id for c in entry.index.candidates(item, verdict.category, ()))
                if kind is not None:
                    ids.update(c.key.id for state in verdict.actors
                               for c in entry.index.steps(item, verdict.category, state, kind))
        actors = self.store.story_actors(sorted(ids)) if ids else {}
        with entry.lock:
            for story_id, now_actors in actors.items():
                entry.index.widen(story_id, now_actors)

    def _recheck(self, decision: StoryDecision, item: Prepared, seen: int,
                 now: datetime) -> int | None:
        """The best of the decision's story and the stories above ``seen``."""
        verdict = decision.classification
        kind = event_kind(verdict)
        entry = self._topic(decision.topic)
        with entry.lock:
            found = entry.index.candidates(item, verdict.category, verdict.actors, seen, kind)
            current = (entry.index.get(decision.story_id)
                       if decision.story_id is not None else None)
        if not found or (decision.story_id is not None and current is None):
            return decision.story_id
        pool = [(c.key, c.prepared) for c in found]
        if current is not None:
            pool.append((current.key, current.prepared))
        return choose_story(decision.topic, item, verdict.category, verdict.actors, now, pool,
                            self.window, kind=kind)

    def _find(self, topic: str, item: Prepared, category: str | None,
              actors: tuple[str, ...], kind: EventKind | None, now: datetime) -> int | None:
        entry = self._topic(topic)
        with entry.lock:
            found = entry.index.candidates(item, category, actors, kind=kind)
        return choose_story(topic, item, category, actors, now,
                            ((c.key, c.prepared) for c in found), self.window, kind=kind)

    def _refresh(self, topic: str, now: datetime) -> int:
        """Bring the topic's index up to the store; the highest story id it then holds.

        The store is read, and the new stories prepared, outside the topic's lock.
        """
        entry = self._topic(topic)
        with entry.lock:
            after = entry.index.last_id
        stories = self.store.recent_stories(topic, now - self.window, after_id=after)
        ready = [(story, prepare(story.title, story.summary)) for story in stories]
        with entry.lock:
            for story, text in ready:
                if story.id > entry.index.last_id:
                    entry.index.add(story, text)
            entry.index.expire(now - self.window)
            return entry.index.last_id

    def _topic(self, topic: str) -> _Topic:
        entry = self._topics.get(topic)
        if entry is None:
            with self._lock:
                entry = self._topics.setdefault(topic, _Topic())
        return entry


def _join_in_poll(poll_index: StoryIndex, opener: int, actors: tuple[str, ...]) -> None:
    """A match joins the story ``opener`` opens in this poll: the story names its states."""
    joined = poll_index.get(opener)
    if joined is not None:
        poll_index.widen(opener, union(joined.key.actors, actors))


def _open_in_poll(poll_index: StoryIndex, index: int, topic: str, item: Prepared,
                  verdict: Classification, kind: EventKind | None, now: datetime) -> None:
    """``new_items[index]`` opens a story in this poll: later matches may join it."""
    poll_index.add(StoryKey(index, topic, item.headline, item.summary, verdict.category,
                            verdict.actors, now, kind), item)


def _regroup(decisions: list[StoryDecision], topics: set[str],
             prepared: Mapping[int, Prepared], now: datetime, fresh: frozenset[int],
             cap: int) -> frozenset[int]:
    """In ``topics``, where a match of this poll joined a committed story at settle, the
    matches still without one are grouped again, in poll order, as ``group`` groups a
    poll: each joins the story of this poll it is most alike to, else opens one, unless
    the poll's alerting stories reach ``cap`` (those opened in the other topics kept
    first): the item is then capped, and its decisions go. As when the poll is made after
    the commit that took that match, but for which items the cap takes (``decisions`` is
    updated; the items capped here are returned)."""
    in_poll: dict[str, StoryIndex] = {}
    opening = {d.item for d in decisions if d.topic not in topics and d.item in fresh
               and d.story_id is None and d.same_as is None}
    capped: set[int] = set()
    for position, decision in enumerate(decisions):
        if (decision.topic not in topics or decision.story_id is not None
                or decision.item in capped):
            continue
        topic, verdict, item = decision.topic, decision.classification, prepared[decision.item]
        kind = event_kind(verdict)
        poll_index = in_poll.setdefault(topic, StoryIndex())
        same_as = poll_index.find(topic, item, verdict.category, verdict.actors, now,
                                  POLL_WINDOW, kind=kind)
        if same_as is None and decision.item in fresh and decision.item not in opening:
            if len(opening) >= cap:
                capped.add(decision.item)   # its other decisions go too, as in group
                continue
            opening.add(decision.item)
        decisions[position] = replace(decision, same_as=same_as)
        if same_as is None:
            _open_in_poll(poll_index, decision.item, topic, item, verdict, kind, now)
        else:
            _join_in_poll(poll_index, same_as, verdict.actors)
    if capped:
        decisions[:] = [d for d in decisions if d.item not in capped]
    return frozenset(capped)
