"""The CPU work of a poll between its fetch and its commit: parse -> new items -> classify.

A fetched body is sifted into the items the store has not seen (each marked alert or
record-only) and, for each, its verdict per topic. The pipeline runs `sift` in its own
process, or sends the job to worker processes (monitor/workers.py), which is why a job and
its result are plain records: nothing here holds a lock, a thread or a connection of the
pipeline's. The store is only read (which guids and URLs it knows); the commit is the
pipeline's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from monitor import decide
from monitor.classify import TopicClassifier
from monitor.ports import ItemKeys, Parser
from monitor.types import NewItem, ParsedFeed, Sifted, SiftJob, StoryDecision


def sift(job: SiftJob, parse: Parser, keys: ItemKeys,
         classifiers: Mapping[str, TopicClassifier], max_age: timedelta) -> Sifted:
    """Parse the body, keep the items the store has not seen, classify them. Raises
    ParseError for a body that is not a feed (or a page without its items)."""
    parsed = parse(job.parse)
    new_items = select_new(job, parsed, keys, max_age)
    decisions, misses = classify_new(new_items, classifiers)
    return Sifted(len(parsed.items), new_items, decisions, misses)


def select_new(job: SiftJob, parsed: ParsedFeed, keys: ItemKeys,
               max_age: timedelta) -> tuple[NewItem, ...]:
    """The items of ``parsed`` the source has not delivered, each marked (monitor.decide)."""
    known = keys.known_keys(job.source, parsed.items, decide.canonical_url)
    fresh = [item for item in parsed.items if item.guid not in known.guids]
    return decide.select_new_items(job.state, fresh, known.guids, known.urls, job.now,
                                   max_age, known.canonical, known.forgotten)


def classify_new(new_items: tuple[NewItem, ...], classifiers: Mapping[str, TopicClassifier]
                 ) -> tuple[tuple[StoryDecision, ...], tuple[tuple[int, str], ...]]:
    """Each new item's verdict per topic that matched, and the (item, topic) pairs that did
    not match (their articles may: monitor/articles.py).

    A copy of an article another source delivered is classified too: its text may match
    where the earlier copy's did not (a vague headline first, a clear one later).
    """
    classified: list[StoryDecision] = []
    misses: list[tuple[int, str]] = []
    for index, new in enumerate(new_items):
        if new.reason == "duplicate" and new.duplicate_of is None:
            continue  # a second link to an article of this same poll
        for topic, classifier in classifiers.items():
            verdict = classifier.classify(new.item.title, new.item.summary)
            if verdict.match:
                classified.append(StoryDecision(index, topic, verdict))
            else:
                misses.append((index, topic))
    return tuple(classified), tuple(misses)
