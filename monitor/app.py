"""The composition root: config -> concrete fetcher, parsers, classifiers, store, notifiers.

Nothing below this module builds its own collaborators; everything is passed in, so
tests (and later a PostgreSQL store or a task engine) can swap any part.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import timedelta as _timedelta

from monitor.articles import ArticleReader
from monitor.classify import TopicClassifier, build_classifier
from monitor.commit import settle_ledger, sync_sources
from monitor.config import Config
from monitor.deliver import Deliverer
from monitor.events import known_events
from monitor.fetch import HostLimiter, HttpFetcher, RobotsCache
from monitor.metrics import Metrics
from monitor.node import Node, new_identity
from monitor.notify import Notifier, build_notifier
from monitor.pipeline import Pipeline
from monitor.ports import Fetcher, NoObserver, Observer, SafeObserver, Store
from monitor.store import open_store
from monitor.types import ArticleSettings, PollSettings
from monitor.worker_task import Commits, collect_young_less_often
from monitor.workers import SiftWorkers

ROBOTS_TTL = _timedelta(hours=6)
# How many polls waiting for a worker it is sent at once (benchmarks/worker_job.py --batch
# --other-writer: on SQLite, 8 cost a worker 9-14% less CPU a poll than 1; in a first cycle
# of benchmarks/poll.py, 16 took 0.76-0.80x the baseline, 8 0.83-0.90x, 32 0.81x. On
# PostgreSQL, 16 cut the daemon's hand-off from 340 to 161 us a poll, and the first cycle
# from 29.3-30.4 to 23.4-24.1 s).
WORKER_BATCH = 16
log = logging.getLogger("monitor.app")
NO_OBSERVER = NoObserver()   # stateless: one serves every app without metrics


def utcnow() -> datetime:
    return datetime.now(UTC)


def operators(config: Config) -> dict[str, _timedelta]:
    """Operator notifier name -> how long a source may fail before it alerts them."""
    return {n.name: n.alert_after for n in config.notifiers if n.operator}


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
    """What the daemon and the commands run on: built by ``build_app``, closed by ``close``.

    The store and the fetcher are held by their ports (monitor/ports.py): whatever backend
    or network stands behind them, the scheduler and the commands use only those methods.
    The parse workers, when there are any, are the app's own processes: it closes them.
    """

    config: Config
    store: Store
    fetcher: Fetcher
    pipeline: Pipeline
    deliverer: Deliverer
    node: Node                          # this process in its database's cluster
    notifiers: dict[str, Notifier] = field(default_factory=dict)
    clock: Callable[[], datetime] = utcnow
    workers: SiftWorkers | None = None
    metrics: Metrics | None = None      # `GET /metrics` serves metrics.render()
    _guarded: SafeObserver | None = field(default=None, init=False, repr=False)

    @property
    def observer(self) -> Observer:
        """Where the scheduler reports its work: the metrics, guarded (a SafeObserver: what
        they raise is logged, never raised into a poll). The same guard while ``metrics``
        stays the same object, so each kind of failure is logged at WARNING once."""
        watcher: Observer = self.metrics if self.metrics is not None else NO_OBSERVER
        guarded = self._guarded
        if guarded is None or guarded.inner is not watcher:
            guarded = self._guarded = SafeObserver(watcher)
        return guarded

    def close(self) -> None:
        self.pipeline.flush()  # unchanged polls still waiting to be committed
        self.node.leave()      # its leases released, for the other nodes
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


def article_settings(config: Config) -> ArticleSettings:
    """What the article stage reads of the config: its budget's cycle is the poll interval,
    and a poll spends at most one fetch deadline on articles."""
    m = config.monitor
    return ArticleSettings(mode=m.fetch_articles, budget=m.article_budget,
                           window=m.poll_interval,
                           seconds_per_poll=m.fetch_deadline.total_seconds())


def store_connections(config: Config) -> int:
    """PURE: the daemon's database connections (PostgreSQL): one per poll thread, so that a
    poll's commit never queues behind the others' reads, up to 32 (two nodes at the default
    max_concurrency then fit in PostgreSQL's default 100), plus 4 for the delivery thread
    and the scheduler's jobs."""
    return min(config.monitor.max_concurrency, 32) + 4


def build_workers(config: Config, owner: str | None = None) -> SiftWorkers | None:
    """The worker processes that sift fetched bodies and commit the polls: none when
    `workers` is 1 (the daemon's own process sifts), or when the database lives in memory
    (only this process sees it). ``owner``: the node whose source leases they release."""
    m = config.monitor
    count = m.worker_count()
    if count < 2 or m.database == ":memory:":
        return None
    commits = Commits(poll_settings(config), {topic: tuple(names) for topic, names
                                              in subscribers(config).items()},
                      operators(config), owner, m.fetch_articles)
    # The polls that wait for a worker go to it together: one message each way, one word
    # that it commits. On SQLite they are committed in one transaction (each commit empties
    # the other processes' page caches); PostgreSQL's polls insert their items before the
    # lock, so each commits alone (PollCommitter.commit_polls).
    return SiftWorkers(count, m.parse_timeout.total_seconds(), m.database, config.topics,
                       m.max_age, commits=commits, batch=WORKER_BATCH)


def build_app(config: Config, clock: Callable[[], datetime] = utcnow,
              rng: random.Random | None = None, fetcher: Fetcher | None = None) -> App:
    """The app for ``config``. ``fetcher`` is the network (by default an HttpFetcher with
    the config's settings); robots.txt and every poll go through it."""
    collect_young_less_often()
    rng = rng or random.Random()
    store = open_store(config.monitor.database, store_connections(config))
    node = Node(store, new_identity(config, clock()), config.monitor.lease_timeout, clock)
    try:
        node.join(store.path)   # before the config touches the sources: it may be refused
    except BaseException:
        store.close()
        raise
    sync_sources(store, ((s.name, s.url) for s in config.sources), clock())
    placed = settle_ledger(store, known_events(), clock())
    if placed:
        log.info("event ledger: placed %d stories stored before it", placed)
    fetcher = fetcher or HttpFetcher(config.monitor)
    limiter = HostLimiter.from_settings(config.monitor)
    robots = RobotsCache(fetcher, config.monitor.user_agent, ROBOTS_TTL.total_seconds())
    workers = build_workers(config, node.id)
    classifiers = build_classifiers(config)
    articles = None
    if config.monitor.fetch_articles != "never":
        articles = ArticleReader(article_settings(config), store, fetcher, limiter, robots,
                                 classifiers)
    pipeline = Pipeline(poll_settings(config), store, fetcher, limiter, robots,
                        classifiers, subscribers(config), clock, rng, operators(config),
                        sifter=workers, articles=articles, owner=node.id)
    notifiers = {n.name: build_notifier(n, config.monitor.user_agent) for n in config.notifiers}
    metrics = Metrics(store, {s.name: config.interval(s) for s in config.sources},
                      [n.name for n in config.notifiers], clock)
    deliverer = Deliverer(store, notifiers, {n.name: n for n in config.notifiers}, clock, rng,
                          observer=metrics, owner=node.id,
                          lease_timeout=config.monitor.lease_timeout)
    if workers is not None:   # once nothing can fail: in the background, so that the
        workers.start()       # first bodies need not wait for the workers' start-up
    return App(config, store, fetcher, pipeline, deliverer, node, notifiers, clock, workers,
               metrics)
