"""`monitor backtest`: the current topics (or a query) replayed over the stored items.

PURE. For each stored item and each topic, compare what happened when it came (it was
part of an alerted story of the topic) with what the classifier says now:

- gained: it matches now, did not alert then, and was news when it came (an item recorded
  only: old on a first poll, a copy of another outlet's link, past a poll's cap, would not
  alert now either);
- lost: it alerted then, and does not match now.

This is how a user tunes a topic's query on the news already stored, without waiting for
more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.classify import TopicClassifier, build_classifier, parse_query
from monitor.config import TopicConfig
from monitor.errors import ConfigError
from monitor.types import Classification, StoredItem

QUERY_TOPIC = "query"   # the topic name of a --query given without --topic


@dataclass(frozen=True)
class Change:
    """One item whose verdict for one topic differs now from then, with the evidence."""

    topic: str
    item: StoredItem
    evidence: str          # gained: the sentence that matches now; lost: what matched then
    rules: tuple[str, ...] = ()   # gained: the rules that fire now


@dataclass(frozen=True)
class Backtest:
    since: datetime
    topics: tuple[str, ...]
    items: int                     # stored items replayed
    gained: tuple[Change, ...]     # would alert now, did not
    lost: tuple[Change, ...]       # alerted, would not now
    unchanged: int                 # (item, topic) pairs that alerted then and match now


def choose_classifiers(topics: Sequence[TopicConfig], built: Mapping[str, TopicClassifier],
                       topic: str | None, query: str | None) -> dict[str, TopicClassifier]:
    """The classifiers to replay: every configured topic, one topic (``--topic``), or a
    query (``--query``): in place of that topic's query when a topic is named (its event
    detector, if any, still applies), else alone under the name "query"."""
    named = None
    if topic is not None:
        named = next((t for t in topics if t.name == topic), None)
        if named is None:
            known = ", ".join(t.name for t in topics) or "none"
            raise ConfigError(f"--topic: no topic named {topic!r} (topics: {known})")
    if query is None:
        return {named.name: built[named.name]} if named else dict(built)
    try:
        parsed = parse_query(query)
    except ConfigError as exc:
        raise ConfigError(f"--query: {exc}") from None
    if named is None:
        return {QUERY_TOPIC: TopicClassifier(QUERY_TOPIC, query=parsed)}
    return {named.name: build_classifier(named.model_copy(update={"query": query}))}


def backtest(items: Sequence[StoredItem], classifiers: Mapping[str, TopicClassifier],
             since: datetime) -> Backtest:
    """PURE: replay ``classifiers`` over ``items`` and set now against then."""
    gained: list[Change] = []
    lost: list[Change] = []
    unchanged = 0
    for item in items:
        for name, classifier in classifiers.items():
            then = [m for m in item.matches if m.topic == name and m.alerted]
            now: Classification = classifier.classify(item.title, item.summary)
            if then and now.match:
                unchanged += 1
            elif then:
                lost.append(Change(name, item, then[0].evidence))
            elif now.match and item.alert:
                gained.append(Change(name, item, now.evidence, now.rules))
    return Backtest(since=since, topics=tuple(classifiers), items=len(items),
                    gained=tuple(gained), lost=tuple(lost), unchanged=unchanged)
