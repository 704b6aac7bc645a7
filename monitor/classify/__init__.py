"""Classification: text -> topic match, event kind, acting states, evidence. PURE.

    clf = build_classifier(topic)             # topic: monitor.config.TopicConfig
    c = clf.classify(title, summary)          # monitor.types.Classification

A topic with ``event = "recognition"`` uses the recognition-event detector, with the topic's
``entities`` as extra aliases of the tracked government. A topic with a ``query`` matches when
the boolean query (docs/queries.md) matches title + summary. With both, both must hold.
"""

from __future__ import annotations

from monitor.classify.recognition import Detection, RecognitionDetector
from monitor.config import TopicConfig
from monitor.errors import ConfigError
from monitor.query import Query, parse_query
from monitor.types import Classification

__all__ = ["TopicClassifier", "build_classifier", "parse_query", "Query", "RecognitionDetector"]

EVENTS = ("recognition",)


# How many kinds of non-match (their reasons) a classifier keeps its verdicts for.
MAX_KEPT_MISSES = 64


class TopicClassifier:
    """Classifies texts for one topic; safe to share between threads. Its verdicts are
    immutable, and most texts do not match: it builds each reason's non-match once."""

    def __init__(self, name: str, detector: RecognitionDetector | None = None,
                 query: Query | None = None) -> None:
        if detector is None and query is None:
            raise ConfigError(f"topic {name!r}: needs an event or a query")
        self.name = name
        self._detector = detector
        self._query = query
        self._no_query = Classification(topic=name, match=False, score=0.0, category=None,
                                        reason=f"query: {query.text} does not match"
                                        if query is not None else "")
        self._misses: dict[str, Classification] = {}

    def classify(self, title: str, summary: str = "") -> Classification:
        title = title or ""
        summary = summary or ""
        query_rules: tuple[str, ...] = ()
        if self._query is not None:
            if not self._query.matches(title, summary):
                return self._no_query
            query_rules = (f"query:{self._query.text}",)
        if self._detector is None:
            return Classification(topic=self.name, match=True, score=1.0, category=None,
                                  evidence=title, rules=query_rules)
        found: Detection = self._detector.detect(title, summary)
        if not found.match:
            return self._miss(found.reason)
        return Classification(topic=self.name, match=True, score=found.score,
                              category=found.category, actors=found.actors,
                              evidence=found.evidence, rules=(*query_rules, *found.rules),
                              evidence_source="lead" if "where:summary" in found.rules
                              else "headline")

    def _miss(self, reason: str) -> Classification:
        """The non-match for ``reason``, built once per reason (up to MAX_KEPT_MISSES)."""
        miss = self._misses.get(reason)
        if miss is None:
            miss = Classification(topic=self.name, match=False, score=0.0, category=None,
                                  reason=reason)
            if len(self._misses) < MAX_KEPT_MISSES:
                self._misses[reason] = miss
        return miss

    def names_entity(self, title: str, summary: str = "") -> bool:
        """Whether the text names the entity of the topic's event detector (never for a
        query-only topic). A text that names it but does not match is about the entity
        without settling an event: its article may (monitor/articles.py). Apart from
        ``classify``, which stays as fast as before: only such candidates are asked."""
        return self._detector is not None and self._detector.names_entity(title, summary)


def build_classifier(topic: TopicConfig) -> TopicClassifier:
    """The classifier for one configured topic; a bad query raises ConfigError."""
    detector = None
    if topic.event is not None:
        if topic.event not in EVENTS:
            raise ConfigError(f"topic {topic.name!r}: unknown event {topic.event!r}; "
                              f"known: {', '.join(EVENTS)}")
        detector = RecognitionDetector(topic.entities)
    query = None
    if topic.query:
        try:
            query = parse_query(topic.query)
        except ConfigError as exc:
            raise ConfigError(f"topic {topic.name!r}: {exc}") from None
    return TopicClassifier(topic.name, detector=detector, query=query)
