"""The composition root: config -> concrete fetcher, parsers, classifiers, store, notifiers.

Nothing below this module builds its own collaborators; everything is passed in, so
tests (and later a PostgreSQL store or a task engine) can swap any part.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import timedelta as _timedelta

from monitor.classify import TopicClassifier, build_classifier
from monitor.commit import sync_sources
from monitor.config import Config
from monitor.deliver import Deliverer
from monitor.events import known_events
from monitor.fetch import HostLimiter, HttpFetcher, RobotsCache
from monitor.metrics import Metrics
from monitor.node import Node, new_identity
from monitor.notify import Notifier, build_notifier
from monitor.parse.jobs import run_parse_job
from monitor.pipeline import Pipeline
from monitor.ports import NoObserver, Observer
from monitor.store import SqliteStore, open_store
from monitor.types import PollSettings
from monitor.workers import ParseWorkers

ROBOTS_TTL = _timedelta(hours=6)


def utcnow() -> datetime:
    return datetime.now(UTC)


def subscribers(config: Config) -> dict[str, list[str]]:
    """topic name -> names of the notifiers that alert on it.

    A notifier without `topics` takes every topic, except an operator notifier, which takes
    only source-health alerts unless it lists topics.
    """
    result: dict[str, list[str]] = {t.name: [] for t in config.topics}
    for notifier in config.notifiers:
        if notifier.topics is not None:
            wanted = notifier.topics
        elif notifier.operator:
            wanted = ()
        else:
            wanted = tuple(result)
        for topic in wanted:
            result[topic].append(notifier.name)
    return result


@dataclass
class App:
    config: Config
    store: SqliteStore
    fetcher: HttpFetcher
    pipeline: Pipeline
    deliverer: Deliverer
    node: Node                          # this process in its database's cluster
    notifiers: dict[str, Notifier] = field(default_factory=dict)
    clock: Callable[[], datetime] = utcnow
    parse_workers: ParseWorkers | None = None
    metrics: Metrics | None = None      # `GET /metrics` serves metrics.render()

    @property
    def observer(self) -> Observer:
        """Where the scheduler and the delivery stage report their work."""
        return self.metrics if self.metrics is not None else NoObserver()

    def close(self) -> None:
        self.pipeline.flush()  # unchanged polls still waiting to be committed
        self.node.leave()      # its leases released, for the other nodes
        if self.parse_workers is not None:
            self.parse_workers.close()
        self.fetcher.close()
        self.store.close()


def build_classifiers(config: Config) -> dict[str, TopicClassifier]:
    return {topic.name: build_classifier(topic) for topic in config.topics}


def poll_settings(config: Config) -> PollSettings:
    """What the pipeline reads of the config."""
    m = config.monitor
    return PollSettings(poll_interval=m.poll_interval, max_backoff=m.max_backoff,
                        max_age=m.max_age, story_window=m.story_window,
                        max_new_per_poll=m.max_new_per_poll)


def build_app(config: Config, clock: Callable[[], datetime] = utcnow,
              rng: random.Random | None = None) -> App:
    rng = rng or random.Random()
    store = open_store(config.monitor.database)
    node = Node(store, new_identity(config, clock()), config.monitor.lease_timeout, clock)
    try:
        node.join(store.path)   # before the config touches the sources: it may be refused
    except BaseException:
        store.close()
        raise
    sync_sources(store, ((s.name, s.url) for s in config.sources), clock())
    store.seed_events(known_events())
    fetcher = HttpFetcher(config.monitor)
    limiter = HostLimiter.from_settings(config.monitor)
    robots = RobotsCache(fetcher, config.monitor.user_agent, ROBOTS_TTL.total_seconds())
    operators = {n.name: n.alert_after for n in config.notifiers if n.operator}
    parser: ParseWorkers | None = None
    if config.monitor.parse_workers:
        parser = ParseWorkers(config.monitor.parse_workers,
                              config.monitor.parse_timeout.total_seconds())
    pipeline = Pipeline(poll_settings(config), store, fetcher, limiter, robots,
                        build_classifiers(config), subscribers(config), clock, rng, operators,
                        parser or run_parse_job, owner=node.id)
    notifiers = {n.name: build_notifier(n, config.monitor.user_agent) for n in config.notifiers}
    metrics = Metrics(store, {s.name: config.interval(s) for s in config.sources},
                      [n.name for n in config.notifiers], clock)
    deliverer = Deliverer(store, notifiers, {n.name: n for n in config.notifiers}, clock, rng,
                          observer=metrics, owner=node.id,
                          lease_timeout=config.monitor.lease_timeout)
    return App(config, store, fetcher, pipeline, deliverer, node, notifiers, clock, parser,
               metrics)
