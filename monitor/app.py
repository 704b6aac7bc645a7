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
from monitor.fetch import HostLimiter, HttpFetcher, RobotsCache
from monitor.notify import Notifier, build_notifier
from monitor.pipeline import Pipeline
from monitor.store import SqliteStore, open_store
from monitor.types import PollSettings
from monitor.workers import SiftWorkers

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
    notifiers: dict[str, Notifier] = field(default_factory=dict)
    clock: Callable[[], datetime] = utcnow
    workers: SiftWorkers | None = None

    def close(self) -> None:
        self.pipeline.flush()  # unchanged polls still waiting to be committed
        if self.workers is not None:
            self.workers.close()
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


def build_workers(config: Config) -> SiftWorkers | None:
    """The worker processes that sift fetched bodies: none when `workers` is 1 (the
    daemon's own process sifts), or when the database lives in memory (only this process
    sees it)."""
    m = config.monitor
    count = m.worker_count()
    if count < 2 or m.database == ":memory:":
        return None
    return SiftWorkers(count, m.parse_timeout.total_seconds(), m.database, config.topics,
                       m.max_age)


def build_app(config: Config, clock: Callable[[], datetime] = utcnow,
              rng: random.Random | None = None) -> App:
    rng = rng or random.Random()
    store = open_store(config.monitor.database)
    sync_sources(store, ((s.name, s.url) for s in config.sources), clock())
    fetcher = HttpFetcher(config.monitor)
    limiter = HostLimiter.from_settings(config.monitor)
    robots = RobotsCache(fetcher, config.monitor.user_agent, ROBOTS_TTL.total_seconds())
    operators = {n.name: n.alert_after for n in config.notifiers if n.operator}
    workers = build_workers(config)
    pipeline = Pipeline(poll_settings(config), store, fetcher, limiter, robots,
                        build_classifiers(config), subscribers(config), clock, rng, operators,
                        sifter=workers)
    notifiers = {n.name: build_notifier(n, config.monitor.user_agent) for n in config.notifiers}
    deliverer = Deliverer(store, notifiers, {n.name: n for n in config.notifiers}, clock, rng)
    return App(config, store, fetcher, pipeline, deliverer, notifiers, clock, workers)
