"""PURE data structure: the open stories of one topic, indexed by headline token.

``find_same_story`` compares a new item with every recent story of its topic, so a topic
with many open stories makes every new item slower (a feed flooding 1,000 stories a poll
made each poll slower than the last). A story can only be chosen when its headline shares
a token with the item's (``choose_story``), so the index hands the decision only those
stories, through posting lists keyed by (category, acting state, token): the category must
be the same and the acting states must not be disjoint, so stories that could never be
chosen are never looked at. A story's actors grow as items naming more states join it
(``widen``): it is then found through those states too.

A report in another language shares no headline token with the story of its step
(``same_step``): a story reporting a kind of step (``StoryKey.kind``) is also posted under
(category, acting state, the step), and an item reporting a step is handed the most recent
``per_token`` stories of its first acting state's step whose headline is in another
language.

The cost of a lookup is bounded whatever the number of open stories: through each token,
only the ``per_token`` most recent stories of a posting list are taken, and at most
``max_candidates`` stories, those sharing the most headline weight with the item, are
scored. While no posting list is longer than ``per_token`` and no item has more than
``max_candidates`` candidates, the answer is the full scan's (tests/test_story_index.py);
beyond, an item is compared with the most recent stories sharing a word and with every
story sharing a rarer one.

Not thread-safe: the caller serialises calls (monitor/grouping.py holds a lock per topic,
and scores the returned candidates outside it).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice

from monitor.stories import (
    THRESHOLD,
    THRESHOLD_SHARED_ACTOR,
    Prepared,
    choose_story,
    prepare,
)
from monitor.types import EventKind, StoryKey

PER_TOKEN = 128        # stories taken through one posting list, the most recent first
MAX_CANDIDATES = 128   # stories scored for one item, those sharing the most headline weight
WIDENINGS_KEPT = 1024  # widenings remembered for ``widened_since``

# Posting-list groups besides the acting states' names.
_ANY = "\0any"         # every story of the category (for an item naming no acting state)
_NO_ACTOR = "\0none"   # stories naming no acting state (any item may join them)

_Posting = tuple[str | None, str, str]   # (category, acting state or group, token)
_STEP = "\0step:"      # a "token" for a kind of step: headline tokens are \w+, never this


@dataclass(frozen=True)
class IndexedStory:
    """A story as the index keeps it: its key, and its text prepared once."""

    key: StoryKey
    prepared: Prepared


class StoryIndex:
    """The open stories of one topic. ``add`` them in id order; ``expire`` the old ones."""

    def __init__(self, *, per_token: int = PER_TOKEN,
                 max_candidates: int = MAX_CANDIDATES) -> None:
        self.per_token = per_token
        self.max_candidates = max_candidates
        self._stories: dict[int, IndexedStory] = {}            # by id, in the order added
        self._postings: dict[_Posting, dict[int, None]] = {}   # ordered sets of story ids
        self.last_id = 0             # the highest id added: a later refresh reads past it
        self.revision = 0            # counts the changes (stories added or widened)
        # (revision, story id) of the last WIDENINGS_KEPT widenings, oldest first, and the
        # revision of the last one forgotten
        self._widenings: deque[tuple[int, int]] = deque()
        self._forgotten = 0
        # Work done, for tests and benchmarks: posting entries read, stories scored.
        self.visited = 0
        self.scored = 0

    def __len__(self) -> int:
        return len(self._stories)

    def __contains__(self, story_id: int) -> bool:
        return story_id in self._stories

    def get(self, story_id: int) -> IndexedStory | None:
        return self._stories.get(story_id)

    def add(self, story: StoryKey, prepared: Prepared | None = None) -> None:
        """Index a story (ignored if already there)."""
        if story.id in self._stories:
            return
        entry = IndexedStory(story, prepared or prepare(story.title, story.summary))
        self._stories[story.id] = entry
        self.last_id = max(self.last_id, story.id)
        self.revision += 1
        for posting in _postings_of(story, entry.prepared):
            self._postings.setdefault(posting, {})[story.id] = None

    def widen(self, story_id: int, actors: tuple[str, ...]) -> None:
        """The story's actors are now ``actors`` (an item joined naming more states): index
        it under them too. Ignored for a story not indexed."""
        entry = self._stories.get(story_id)
        if entry is None or entry.key.actors == actors:
            return
        self.revision += 1
        self._widenings.append((self.revision, story_id))
        if len(self._widenings) > WIDENINGS_KEPT:
            self._forgotten = self._widenings.popleft()[0]
        old = set(_postings_of(entry.key, entry.prepared))
        entry = self._stories[story_id] = IndexedStory(replace(entry.key, actors=actors),
                                                       entry.prepared)
        new = set(_postings_of(entry.key, entry.prepared))
        for posting in old - new:
            ids = self._postings[posting]
            ids.pop(story_id, None)
            if not ids:
                del self._postings[posting]
        for posting in new - old:   # posting lists stay in id order (see _newest)
            ids = self._postings.setdefault(posting, {})
            if ids and story_id < next(reversed(ids)):
                ids[story_id] = None
                self._postings[posting] = dict.fromkeys(sorted(ids))
            else:
                ids[story_id] = None

    def widened_since(self, revision: int) -> list[IndexedStory] | None:
        """The stories still indexed whose actors were widened after ``revision``, the
        last widened first; None when that is more widenings than the index remembers
        (WIDENINGS_KEPT): the caller must then look at every story."""
        if revision < self._forgotten:
            return None
        ids: dict[int, None] = {}
        for when, story_id in reversed(self._widenings):
            if when <= revision:
                break
            ids[story_id] = None
        return [self._stories[i] for i in ids if i in self._stories]

    def expire(self, before: datetime) -> int:
        """Drop the stories first seen before ``before``; returns how many were dropped.

        Stories are dropped from the oldest added; one added out of time order waits for
        those added before it (the decision checks the window anyway).
        """
        dropped = 0
        while self._stories:
            story_id, entry = next(iter(self._stories.items()))
            if entry.key.seen_at >= before:
                break
            del self._stories[story_id]
            for posting in _postings_of(entry.key, entry.prepared):
                ids = self._postings.get(posting)
                if ids is not None:
                    ids.pop(story_id, None)
                    if not ids:
                        del self._postings[posting]
            dropped += 1
        return dropped

    def candidates(self, item: Prepared, category: str | None, actors: tuple[str, ...],
                   after_id: int | None = None, kind: EventKind | None = None
                   ) -> list[IndexedStory]:
        """The stories the decision should score for this item: those of its category whose
        acting states are not disjoint from its own, whose headline shares a token with its
        headline or (an item reporting the step ``kind``) that report its step in another
        language, and (with ``after_id``) whose id is above it."""
        groups = (*dict.fromkeys(actors), _NO_ACTOR) if actors else (_ANY,)
        shared: dict[int, float] = {}     # story id -> headline weight shared with the item
        for token, weight in item.title.weights.items():
            seen: set[int] = set()
            for group in groups:
                ids = self._postings.get((category, group, token))
                if not ids:
                    continue
                for story_id in islice(self._newest(ids, after_id), self.per_token):
                    if story_id in seen:
                        continue
                    seen.add(story_id)
                    other = self._stories[story_id].prepared.title.weights[token]
                    shared[story_id] = shared.get(story_id, 0.0) + min(weight, other)
        chosen: Iterable[int] = shared
        if len(shared) > self.max_candidates:   # ties as the decision breaks them: oldest
            chosen = heapq.nlargest(self.max_candidates, shared,
                                    key=lambda i: self._rank(item, i, shared[i]))
        found = [self._stories[i] for i in chosen]
        if kind is not None and actors:
            found.extend(self._same_step(item, category, actors[0], kind, after_id, shared))
        self.scored += len(found)
        return found

    def steps(self, item: Prepared, category: str | None, state: str, kind: EventKind
              ) -> list[IndexedStory]:
        """The most recent stories of ``state``'s step ``kind``, of the category, in another
        language than the item's (those a report of that step may join by its step)."""
        return self._same_step(item, category, state, kind, None, {})

    def _same_step(self, item: Prepared, category: str | None, state: str, kind: EventKind,
                   after_id: int | None, taken: Mapping[int, float]) -> list[IndexedStory]:
        """The most recent stories of ``state``'s step ``kind`` (``same_step`` needs the
        same acting states: the first is enough to look up) in another language than the
        item's, but those ``taken`` through the headline."""
        ids = self._postings.get((category, state, _STEP + kind))
        if not ids:
            return []
        newest = islice(self._newest(ids, after_id), self.per_token)
        stories = (self._stories[i] for i in newest if i not in taken)
        return [s for s in stories if s.prepared.language != item.language]

    def _newest(self, ids: dict[int, None], after_id: int | None) -> Iterator[int]:
        for story_id in reversed(ids):
            self.visited += 1
            if after_id is not None and story_id <= after_id:
                return
            yield story_id

    def _rank(self, item: Prepared, story_id: int, shared: float) -> tuple[float, float, int]:
        """The headlines' Dice coefficient, then the earliest seen (as ``choose_story``)."""
        story = self._stories[story_id]
        dice = 2 * shared / (item.title.total + story.prepared.title.total)
        return (dice, -story.key.seen_at.timestamp(), -story_id)

    def find(self, topic: str, item: Prepared, category: str | None,
             actors: tuple[str, ...], seen_at: datetime, window: timedelta, *,
             after_id: int | None = None, kind: EventKind | None = None,
             threshold: float = THRESHOLD,
             threshold_shared_actor: float = THRESHOLD_SHARED_ACTOR) -> int | None:
        """``find_same_story`` over the indexed stories (those above ``after_id``)."""
        found = self.candidates(item, category, actors, after_id, kind)
        return choose_story(topic, item, category, actors, seen_at,
                            ((c.key, c.prepared) for c in found), window, kind=kind,
                            threshold=threshold, threshold_shared_actor=threshold_shared_actor)


def _postings_of(story: StoryKey, prepared: Prepared) -> Iterator[_Posting]:
    groups = (*dict.fromkeys(story.actors), _ANY) if story.actors else (_NO_ACTOR, _ANY)
    for token in prepared.title.weights:
        for group in groups:
            yield (story.category, group, token)
    if story.kind is not None:
        for state in dict.fromkeys(story.actors):
            yield (story.category, state, _STEP + story.kind)
