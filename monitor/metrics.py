"""Prometheus metrics of the daemon, served as `GET /metrics` (DESIGN.md, HTTP face).

Two kinds, kept apart:

- Counters and histograms of work done (polls, fetch durations, new items, stories,
  delivery attempts, alert latency, the last scheduler cycle): fed through the Observer
  port (monitor/ports.py) by the scheduler and the delivery stage, in the daemon's main
  process, from the outcomes it receives.
- Gauges of stored state (deliveries by notifier and state, sources by health): read from
  the store at each scrape, with the health verdict `monitor status` gives
  (monitor.decide.health), so the two never disagree and a restart loses nothing.

No per-source label: 10,000 sources must not mean 10,000 series. Per-source detail is the
JSON API's (`GET /api/v1/sources`) and `monitor status`'s.

Each `Metrics` has its own CollectorRegistry, not the library's global one, so that two
apps in one process (tests, the demo) count apart.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.decide import healths
from monitor.errors import StoreError
from monitor.types import (
    AttemptResult,
    DeliveryStatus,
    Digest,
    HealthFacts,
    PollOutcome,
    PollStatus,
    SourceHealth,
)

log = logging.getLogger("monitor.metrics")

# polls_total{result}: a 304 and an unchanged body both mean "nothing new"; a 410 is an error.
POLL_RESULTS: dict[PollStatus, str] = {"ok": "ok", "not_modified": "not_modified",
                                       "unchanged": "not_modified", "error": "error",
                                       "gone": "error"}
ATTEMPT_RESULTS: tuple[AttemptResult, ...] = get_args(AttemptResult)
# The deliveries gauge: every state but delivered (that one only grows: the attempts
# counter's result="ok" says it).
DELIVERY_STATES: tuple[DeliveryStatus, ...] = ("pending", "sending", "failed", "dead")
HEALTHS: tuple[SourceHealth, ...] = get_args(SourceHealth)

# A fetch ends within fetch_deadline (60 s by default).
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# From an immediate webhook (seconds) to a daily digest (a day).
LATENCY_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0,
                   86400.0)


class StateReader(Protocol):
    """What the gauges read of the store at each scrape."""

    def source_health_facts(self) -> list[HealthFacts]: ...

    def delivery_counts(self, statuses: Sequence[DeliveryStatus]
                        ) -> dict[tuple[str, DeliveryStatus], int]: ...


class StoredState(Collector):
    """The gauges computed from the store when scraped: `monitor_deliveries{notifier,state}`
    and `monitor_sources{health}`. Every configured notifier and every health verdict has
    its series, 0 included, so alert rules need no `absent()`."""

    def __init__(self, store: StateReader, intervals: Mapping[str, timedelta],
                 notifiers: Iterable[str], clock: Callable[[], datetime]) -> None:
        self.store = store
        self.intervals = dict(intervals)
        self.notifiers = tuple(notifiers)
        self.clock = clock

    def describe(self) -> Iterable[Metric]:
        return [self._deliveries(), self._sources()]

    def collect(self) -> Iterable[Metric]:
        try:
            counts = self.store.delivery_counts(DELIVERY_STATES)
            states = self.store.source_health_facts()
        except StoreError as exc:  # the counters are still worth serving
            log.warning("metrics: stored state not readable: %s", exc)
            return []
        deliveries = self._deliveries()
        for notifier in sorted(set(self.notifiers) | {n for n, _ in counts}):
            for state in DELIVERY_STATES:
                deliveries.add_metric([notifier, state], counts.get((notifier, state), 0))
        verdicts = Tally(healths(self.intervals, states, self.clock()).values())
        sources = self._sources()
        for verdict in HEALTHS:
            sources.add_metric([verdict], verdicts[verdict])
        return [deliveries, sources]

    @staticmethod
    def _deliveries() -> GaugeMetricFamily:
        return GaugeMetricFamily("monitor_deliveries", "Digests not yet delivered, by "
                                 "notifier and state (pending, sending, failed, dead).",
                                 labels=["notifier", "state"])

    @staticmethod
    def _sources() -> GaugeMetricFamily:
        return GaugeMetricFamily("monitor_sources", "Configured sources by health, as "
                                 "`monitor status` shows it.", labels=["health"])


class Metrics:
    """The daemon's metrics: an Observer (monitor/ports.py) for the counters, the stored
    state for the gauges, and `render` for the `GET /metrics` route."""

    def __init__(self, store: StateReader, intervals: Mapping[str, timedelta],
                 notifiers: Sequence[str], clock: Callable[[], datetime]) -> None:
        self.registry = registry = CollectorRegistry()
        self.polls = Counter("monitor_polls", "Polls of sources, by result (ok, not_modified: "
                             "a 304 or the same body, error).", ["result"], registry=registry)
        self.fetch_duration = Histogram("monitor_fetch_duration_seconds", "Time each fetch "
                                        "took, failed ones included.", buckets=FETCH_BUCKETS,
                                        registry=registry)
        self.items_new = Counter("monitor_items_new", "Items seen for the first time.",
                                 registry=registry)
        self.stories = Counter("monitor_stories", "Stories opened that alert, by topic and "
                               "category (\"none\" for a topic without one).",
                               ["topic", "category"], registry=registry)
        self.attempts = Counter("monitor_delivery_attempts", "Attempts to send a digest, by "
                                "notifier and result (ok, failed: retried later, dead: given "
                                "up).", ["notifier", "result"], registry=registry)
        self.alert_latency = Histogram("monitor_alert_latency_seconds", "From a story's first "
                                       "item first seen to its digest accepted by a notifier.",
                                       buckets=LATENCY_BUCKETS, registry=registry)
        self.last_cycle = Gauge("monitor_last_cycle_timestamp_seconds", "When the scheduler "
                                "last looked for due sources (Unix time; 0: not yet).",
                                registry=registry)
        for result in sorted(set(POLL_RESULTS.values())):
            self.polls.labels(result)
        for notifier in notifiers:
            for attempt in ATTEMPT_RESULTS:
                self.attempts.labels(notifier, attempt)
        registry.register(StoredState(store, intervals, notifiers, clock))

    # -- the Observer port ----------------------------------------------------

    def poll_done(self, outcome: PollOutcome) -> None:
        self.polls.labels(POLL_RESULTS[outcome.status]).inc()
        if outcome.fetch_seconds is not None:
            self.fetch_duration.observe(outcome.fetch_seconds)
        if outcome.new:
            self.items_new.inc(outcome.new)
        for topic, category in outcome.new_stories:
            self.stories.labels(topic, category or "none").inc()

    def delivery_attempted(self, digest: Digest, result: AttemptResult, at: datetime) -> None:
        self.attempts.labels(digest.notifier, result).inc()
        if result != "ok":
            return
        for story in digest.stories:
            if story.first_seen is not None:
                self.alert_latency.observe(max((at - story.first_seen).total_seconds(), 0.0))

    def cycle_done(self, at: datetime) -> None:
        self.last_cycle.set(at.timestamp())

    # -- GET /metrics -----------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every metric: (body, its Content-Type)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
