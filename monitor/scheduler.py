"""APScheduler wiring: due sources -> pipeline; digest times -> deliver.

`poll_sources` runs one batch of polls on a bounded thread pool (used by `monitor once`
and by the daemon's tick). `Daemon` is `monitor run`: a tick that submits due sources,
one job per notifier schedule, a retry tick for failed deliveries, and the hourly retention
pass. One piece over 400 lines because both runners share the per-host gate (`_HostGate`)
and the in-flight accounting that a stop waits on; the daemon's sources waiting for their
hosts live in that same accounting (claimed, in flight, given back at a stop).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.app import App
from monitor.cluster import DIGEST_SCHEDULES, RETENTION
from monitor.config import Config, NotifierConfig, SourceConfig, parse_duration
from monitor.errors import StoreError
from monitor.fetch import host_key
from monitor.liveness import Heartbeat, PollLog
from monitor.retention import RUN_EVERY, plan_retention, run_retention
from monitor.types import PollOutcome, SourceState

log = logging.getLogger("monitor.scheduler")

TICK_SECONDS = 2.0          # how often the daemon looks for due sources
RETRY_TICK_SECONDS = 30.0   # how often it looks for failed deliveries that are due again
STOP_GRACE_SECONDS = 10.0   # how long SIGTERM waits for polls and deliveries in flight
RETENTION_FIRST_DELAY = timedelta(minutes=5)   # after start: the first polls go first


class _HostGate:
    """The one per-host gate of polls: how many are in flight to each host, at most
    ``per_host``. Not locked itself: its owner's lock guards it."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._load: Counter[str] = Counter()

    def has_room(self, host: str) -> bool:
        return self._load[host] < self.per_host

    def enter(self, host: str) -> None:
        self._load[host] += 1

    def leave(self, host: str) -> bool:
        """One poll of ``host`` ended; True when that gave the host room again."""
        self._load[host] -= 1
        return self._load[host] == self.per_host - 1


class _HostQueues:
    """Sources waiting to be polled, by host. `take` hands out the next source of a host
    with fewer than `per_host` polls in flight (hosts in turn), waiting while none has room;
    None once every source was handed out. Thread-safe."""

    def __init__(self, by_host: dict[str, deque[SourceConfig]], per_host: int) -> None:
        self._waiting = by_host
        self._gate = _HostGate(per_host)
        self._ready = deque(by_host)      # hosts with a source waiting and room for a poll
        self._left = sum(len(q) for q in by_host.values())
        self._changed = threading.Condition()

    def take(self) -> tuple[str, SourceConfig] | None:
        with self._changed:
            while not self._ready:
                if not self._left:
                    return None
                self._changed.wait()
            host = self._ready.popleft()
            source = self._waiting[host].popleft()
            self._gate.enter(host)
            self._left -= 1
            if self._waiting[host] and self._gate.has_room(host):
                self._ready.append(host)
            if not self._left:
                self._changed.notify_all()    # nothing more to hand out: idle workers end
            return host, source

    def cancel(self) -> None:
        """Hand out nothing more."""
        with self._changed:
            for waiting in self._waiting.values():
                waiting.clear()
            self._ready.clear()
            self._left = 0
            self._changed.notify_all()

    def done(self, host: str) -> None:
        with self._changed:
            if self._gate.leave(host) and self._waiting[host]:
                self._ready.append(host)      # it had no room: now it has
                self._changed.notify()


class _InFlight:
    """Counts work in flight, so that others can wait for it (with a deadline, or waking
    every half second, so that a Ctrl-C another thread received is taken)."""

    def __init__(self, count: int = 0) -> None:
        self._count = count
        self._changed = threading.Condition()

    def add(self, count: int) -> None:
        with self._changed:
            self._count += count
            self._changed.notify_all()

    @contextmanager
    def track(self) -> Iterator[None]:
        self.add(1)
        try:
            yield
        finally:
            self.add(-1)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """True once nothing is in flight; False when ``timeout`` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count <= 0, timeout)

    def wait_idle_interruptibly(self) -> None:
        while not self.wait_idle(0.5):
            pass


def poll_sources(app: App, sources: Iterable[SourceConfig],
                 on_done: Callable[[PollOutcome], None] | None = None) -> list[PollOutcome]:
    """Poll the sources concurrently: at most monitor.max_concurrency in flight, and at most
    monitor.max_per_host per host at once, so that the sources of one slow host never hold
    every worker while other hosts wait. Outcomes in finishing order; every poll is
    committed when it returns. Each worker thread takes its next source itself."""
    chosen = list(sources)
    if not chosen:
        return []
    urls = app.store.source_urls()
    by_host: dict[str, deque[SourceConfig]] = defaultdict(deque)
    for source in chosen:
        by_host[host_key(urls.get(source.name, source.url))].append(source)
    waiting = _HostQueues(by_host, app.config.monitor.max_per_host)
    outcomes: list[PollOutcome] = []
    crashed: list[BaseException] = []
    reported = threading.Lock()

    workers = min(app.config.monitor.max_concurrency, len(chosen))
    running = _InFlight(workers)   # not Thread.join: in Python 3.11 a join interrupted by
    #                                Ctrl-C marks a running thread as ended

    def work() -> None:
        try:
            while (taken := waiting.take()) is not None:
                host, source = taken
                try:
                    outcome = app.pipeline.poll(source)
                    with reported:
                        outcomes.append(outcome)
                        app.observer.poll_done(outcome)
                        if on_done is not None:
                            on_done(outcome)
                except BaseException as exc:  # poll() records failures: a bug, raise it
                    crashed.append(exc)
                finally:
                    waiting.done(host)
        finally:
            running.add(-1)

    started = 0
    try:
        for n in range(workers):
            threading.Thread(target=work, name=f"poll-{n}", daemon=True).start()
            started += 1
        running.wait_idle_interruptibly()
    except BaseException:   # Ctrl-C: no new polls; those in flight end (by their deadline)
        waiting.cancel()
        running.add(started - workers)     # the workers never started
        running.wait_idle_interruptibly()
        raise
    finally:
        app.pipeline.flush()
    if crashed:
        raise crashed[0]
    app.observer.cycle_done(app.clock())
    return outcomes


def _adopt(app: App, states: list[SourceState]) -> list[tuple[SourceConfig, SourceState]]:
    """Claimed sources in config order, each with its stored state; the pipeline takes
    those states (another node may have polled them last), and gives back any the config
    lacks. One pass over the config: looking each source up in it costs a pass each
    (10,000 sources claimed at once: 7 s of the daemon's CPU)."""
    app.pipeline.adopt(states)
    by_name = {state.name: state for state in states}
    adopted = [(s, by_name[s.name]) for s in app.config.sources if s.name in by_name]
    if len(adopted) < len(by_name):
        known = {source.name for source, _ in adopted}
        app.node.release(sorted(by_name.keys() - known))
    return adopted


def claim_due(app: App, now: datetime) -> list[tuple[SourceConfig, str]]:
    """The configured sources due at ``now`` that no node holds, now leased to this node
    (its share of them when several nodes run), each with the host it is fetched from."""
    return [(source, host_key(state.url))
            for source, state in _adopt(app, app.node.claim_due(now))]


def claim_named(app: App, now: datetime, names: Collection[str]
                ) -> list[tuple[SourceConfig, str]]:
    """These configured sources, due or not, unless another node holds them, now leased to
    this node (a "poll now"), each with its host."""
    return [(source, host_key(state.url))
            for source, state in _adopt(app, app.node.claim_named(now, names))]


def poll_claimed(app: App, on_done: Callable[[PollOutcome], None] | None = None
                 ) -> list[PollOutcome]:
    """`monitor once`: claim every configured source that no other node holds, due or not,
    and poll them (`poll_sources`); the node's heartbeat renews the leases of those not
    polled yet. Sources another node is polling now are left to it."""
    claimed = _adopt(app, app.node.claim_all())
    skipped = len(app.config.sources) - len(claimed)
    if skipped:
        log.info("%d source(s) left to the other nodes polling them now", skipped)
    left = {source.name for source, _ in claimed}
    lock = threading.Lock()

    def done(outcome: PollOutcome) -> None:
        with lock:
            left.discard(outcome.source)
        if on_done is not None:
            on_done(outcome)

    def held() -> frozenset[str]:
        with lock:
            return frozenset(left)

    app.node.start(held, app.deliverer.sending)
    return poll_sources(app, [source for source, _ in claimed], done)


def schedule_trigger(schedule: str) -> IntervalTrigger | CronTrigger | None:
    """APScheduler trigger for a notifier's schedule; None for "immediate"."""
    if schedule == "immediate":
        return None
    if schedule.startswith("every "):
        return IntervalTrigger(seconds=parse_duration(schedule[6:]).total_seconds())
    return CronTrigger.from_crontab(schedule, timezone="UTC")


def _in(delta_seconds: float) -> str:
    minutes = round(delta_seconds / 60)
    if minutes < 1:
        return "in under a minute"
    return f"in {minutes}m" if minutes < 120 else f"in {minutes // 60}h{minutes % 60:02d}m"


def startup_summary(config: Config, next_polls: Mapping[str, datetime | None],
                    now: datetime) -> str:
    """PURE: the daemon's first log line: which config, what it watches, when polls start.

    ``next_polls`` is each source's stored next poll time (None or absent: never polled).
    """
    def count(n: int, noun: str) -> str:
        return f"{n} {noun}{'' if n == 1 else 's'}"

    head = (f"daemon started with config {config.path or '(inline)'}: "
            f"{count(len(config.sources), 'source')}, {count(len(config.topics), 'topic')}, "
            f"{count(len(config.notifiers), 'notifier')}")
    if not config.sources:
        return head + "; nothing to poll"
    times = [next_polls.get(s.name) for s in config.sources]
    due = sum(1 for t in times if t is None or t <= now)
    later = sorted(t for t in times if t is not None and t > now)
    if due:
        tail = f"; first polls: {due} due now"
        if later:
            tail += f", the next at {later[0]:%H:%M:%S}Z ({_in((later[0] - now).total_seconds())})"
        return head + tail
    return (head + f"; first poll due at {later[0]:%H:%M:%S}Z "
            f"({_in((later[0] - now).total_seconds())})")


class AllFailingWatch:
    """Says once when every source's latest poll failed (the network, a proxy, DNS: not
    the sources), and once when a source answers again. Thread-safe."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names = frozenset(names)
        self._failed: dict[str, bool] = {}
        self._announced = False
        self._lock = threading.Lock()

    def record(self, outcome: PollOutcome) -> str | None:
        """The one line to log after this poll, if any."""
        failed = outcome.error is not None or outcome.status in ("error", "gone")
        with self._lock:
            self._failed[outcome.source] = failed
            if (not self._announced and self._names and self._names <= self._failed.keys()
                    and all(self._failed[n] for n in self._names)):
                self._announced = True
                return (f"every source failed its latest poll ({len(self._names)} of "
                        f"{len(self._names)}): check the network, proxy or DNS; last error: "
                        f"{outcome.error}")
            if self._announced and not failed:
                self._announced = False
                return f"sources answer again: {outcome.source} polled ok"
        return None


class Daemon:
    """`monitor run`: polls sources when due and delivers digests on schedule until stopped."""

    def __init__(self, app: App, stopping: threading.Event | None = None) -> None:
        self.app = app
        self.stopping = stopping if stopping is not None else threading.Event()
        self._work = _InFlight()
        self._pool = ThreadPoolExecutor(max_workers=app.config.monitor.max_concurrency,
                                        thread_name_prefix="poll")
        self._deliveries = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deliver")
        self._in_flight: set[str] = set()    # claimed: waiting in the pool or polled now
        self._polling: set[str] = set()      # polled now
        self._hosts = _HostGate(app.config.monitor.max_per_host)   # polls in flight
        # Claimed, waiting for their host to have room (in _in_flight too), by host.
        self._waiting: defaultdict[str, deque[SourceConfig]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._immediate_queued = threading.Event()
        self._scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
        self._immediate = [n.name for n in app.config.notifiers if n.schedule == "immediate"]
        self._all_failing = AllFailingWatch(s.name for s in app.config.sources)
        self.heartbeat = Heartbeat()      # each completed tick: GET /healthz
        self.recent_polls = PollLog()     # the page of one source
        self._wanted: set[str] = set()    # "poll now": polled at the next tick

    def start(self) -> None:
        scheduler = self._scheduler
        scheduler.add_job(self._tick, IntervalTrigger(seconds=TICK_SECONDS), id="tick",
                          next_run_time=self.app.clock())
        scheduler.add_job(self._retry, IntervalTrigger(seconds=RETRY_TICK_SECONDS),
                          id="retry", next_run_time=self.app.clock())
        if self.app.config.monitor.retention is not None:
            scheduler.add_job(self._retain, IntervalTrigger(
                seconds=RUN_EVERY.total_seconds()), id="retention",
                next_run_time=self.app.clock() + RETENTION_FIRST_DELAY)
        for notifier in self.app.config.notifiers:
            trigger = schedule_trigger(notifier.schedule)
            if trigger is not None:
                scheduler.add_job(self._flush, trigger, args=[notifier], id=f"digest:"
                                  f"{notifier.name}")
        next_polls = {state.name: state.next_poll_at
                       for state in self.app.store.source_states()}
        log.info("%s", startup_summary(self.app.config, next_polls, self.app.clock()))
        self.app.node.start(self._claimed, self.app.deliverer.sending)
        scheduler.start()

    def run_until_stopped(self, grace: float = STOP_GRACE_SECONDS) -> bool:
        """Run until `stopping` is set; True when all work in flight finished in time."""
        self.start()
        try:
            self.stopping.wait()
        finally:
            finished = self.stop(grace)
        return finished

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> bool:
        """Take no more work; give polls and deliveries in flight `grace` seconds to finish.

        Returns False when some are still running: the caller may then exit without them.
        Abandoning is safe: a poll commits in one transaction or not at all, and a delivery
        interrupted before it was recorded is resent under the same id.
        """
        self.stopping.set()
        self._scheduler.shutdown(wait=False)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._deliveries.shutdown(wait=False, cancel_futures=True)
        with self._lock:   # claimed, never to be polled here: to the other nodes at once
            waiting = sorted(self._in_flight - self._polling)
            self._waiting.clear()
        self.app.node.release(waiting)
        finished = self._work.wait_idle(grace)
        self.app.pipeline.flush()
        log.info("daemon stopped%s", "" if finished else
                 f"; work still in flight after {grace:.0f}s is abandoned")
        return finished

    def _tick(self) -> None:
        """Claim the due sources and submit them. A source whose host already has
        max_per_host polls in flight stays claimed and waits here (not in the pool, so one
        slow host never holds every worker) until a poll of that host ends (`_handed_on`):
        given back instead, it was claimed again at every tick, each tick rewriting the
        leases of every source still due (with 10,000 sources, most of a first cycle)."""
        with self._work.track():
            if self.stopping.is_set():
                return
            # Unchanged polls committed in a batch: their sources' next poll times are
            # stored (and their leases released) before the due ones are claimed.
            self.app.pipeline.flush()
            now = self.app.clock()
            due = self._due(now)
            given_back: list[str] = []
            for index, (source, host, wanted) in enumerate(due):
                with self._lock:
                    if self.stopping.is_set():   # stop() took what it gives back: the rest
                        given_back += [s.name for s, _, _ in due[index:]
                                       if s.name not in self._in_flight]
                        break
                    if source.name in self._in_flight:   # its poll here releases it
                        continue
                    if not wanted and self._polled_since_read(source.name, now):
                        given_back.append(source.name)
                        continue
                    self._in_flight.add(source.name)
                    self._wanted.discard(source.name)
                    if not self._hosts.has_room(host):
                        # A "poll now" first; `_spare` gives back from the other end.
                        if wanted:
                            self._waiting[host].appendleft(source)
                        else:
                            self._waiting[host].append(source)
                        continue
                    self._hosts.enter(host)
                if not self._submit(source, host):   # the pool is shutting down
                    given_back += [s.name for s, _, _ in due[index + 1:]]
                    break
            given_back += self._spare(self.app.node.surplus)
            self.app.node.release(given_back)
            if self.stopping.is_set():
                return
            self.app.observer.cycle_done(now)
            self.heartbeat.beat()

    def _spare(self, count: int) -> list[str]:
        """Up to ``count`` of the sources waiting for their hosts, no longer this node's
        (to be given back: it holds more than its share while other nodes have room), taken
        last-claimed first from each host in proportion to its queue."""
        spared: list[str] = []
        with self._lock:
            waiting = sum(len(queue) for queue in self._waiting.values())
            if not count or not waiting:
                return spared
            for host, queue in sorted(self._waiting.items(), key=lambda hq: -len(hq[1])):
                take = min(len(queue), -(-len(queue) * count // waiting), count - len(spared))
                for _ in range(take):
                    spared.append(queue.pop().name)
                if not queue:
                    del self._waiting[host]
                if len(spared) >= count:
                    break
            self._in_flight.difference_update(spared)
        return spared

    def _submit(self, source: SourceConfig, host: str) -> bool:
        """Queue the poll of a claimed source that entered its host's gate; False (the
        source released here and given back) when the pool is shutting down."""
        try:
            self._pool.submit(self._poll, source, host)
            return True
        except RuntimeError:   # only stop() shuts it, after `stopping`: nothing follows
            self._release(source.name, host)
            self.app.node.release([source.name])
            return False

    def _claimed(self) -> frozenset[str]:
        """The sources this node holds: waiting for their hosts or in the pool, or being
        polled."""
        with self._lock:
            return frozenset(self._in_flight)

    def _due(self, now: datetime) -> list[tuple[SourceConfig, str, bool]]:
        """The due sources and those asked for by `poll_now`, claimed for this node, each
        with its host and whether it was asked for (then polled whatever its next poll
        time). One another node holds waits for a later tick."""
        due = claim_due(self.app, now)
        with self._lock:
            wanted = set(self._wanted)
        if wanted:
            listed = {source.name for source, _ in due}
            due += claim_named(self.app, now, wanted - listed)
        return [(source, host, source.name in wanted) for source, host in due]

    def poll_now(self, name: str) -> bool:
        """Poll the source at the next tick (within TICK_SECONDS), whatever its next poll
        time says; thread-safe (the HTTP face's "poll now"). False when no source has that
        name."""
        if not any(source.name == name for source in self.app.config.sources):
            return False
        with self._lock:
            self._wanted.add(name)
        return True

    def deliver_now(self) -> None:
        """Attempt the due deliveries now rather than at the next retry tick (after the
        HTTP face made one due); thread-safe."""
        try:
            self._deliveries.submit(self._retry)
        except RuntimeError:  # shutting down: the next start delivers it
            pass

    def liveness(self) -> str | None:
        """None while the daemon runs and its tick is recent, else why not (GET /healthz)."""
        if self.stopping.is_set():
            return "the daemon is stopping"
        return self.heartbeat.problem()

    def _polled_since_read(self, name: str, now: datetime) -> bool:
        """A poll that finished after this tick read the due sources moved the source's next
        poll: the pipeline's newest state of it says so (committed or still batched)."""
        known = self.app.pipeline.known_state(name)
        return known is not None and known.next_poll_at is not None \
            and known.next_poll_at > now

    def _release(self, name: str, host: str) -> SourceConfig | None:
        """The source is no longer this node's to poll; returns the next source waiting for
        its host, if any (and not stopping), which has then entered the host's gate."""
        with self._lock:
            self._in_flight.discard(name)
            self._polling.discard(name)
            self._hosts.leave(host)
            waiting = self._waiting.get(host)
            if not waiting or self.stopping.is_set():   # stop() gives the waiting back
                return None
            following = waiting.popleft()
            if not waiting:
                del self._waiting[host]
            self._hosts.enter(host)
            return following

    def _handed_on(self, following: SourceConfig | None, host: str) -> None:
        """A poll of ``host`` ended: the next source waiting for it is polled now."""
        if following is not None:
            self._submit(following, host)

    def _poll(self, source: SourceConfig, host: str) -> None:
        try:
            with self._work.track():
                with self._lock:
                    if self.stopping.is_set():   # stop() gives its lease back
                        return
                    self._polling.add(source.name)
                outcome = self.app.pipeline.poll(source)
        except Exception:  # poll() records its failures; anything else is a bug: say so
            log.exception("poll of %r crashed", source.name)
            return
        finally:
            self._handed_on(self._release(source.name, host), host)
        if (outcome.error or "").startswith("StoreError"):   # not committed: nor released
            self.app.node.release([source.name])
        self.app.observer.poll_done(outcome)
        self.recent_polls.record(self.app.clock(), outcome)
        news = self._all_failing.record(outcome)
        if news is not None:
            log.log(logging.WARNING if outcome.error else logging.INFO, "%s", news)
        if outcome.matched and self._immediate and not self._immediate_queued.is_set():
            self._immediate_queued.set()
            try:
                self._deliveries.submit(self._deliver_immediate)
            except RuntimeError:  # shutting down: the next start delivers it
                pass

    def _deliver_immediate(self) -> None:
        with self._work.track():
            self._immediate_queued.clear()
            if not self.stopping.is_set():
                self.app.deliverer.flush_all(self._immediate)

    def _flush(self, notifier: NotifierConfig) -> None:
        """A scheduled digest: made by the one node that holds the digest schedules."""
        with self._work.track():
            if not self.stopping.is_set() and self.app.node.holds(DIGEST_SCHEDULES):
                self.app.deliverer.flush(notifier.name)

    def _retain(self) -> None:
        """Delete what is older than the retention, in small batches (polls go between
        them); stopping the daemon ends it after the batch in flight."""
        with self._work.track():
            if not self.app.node.holds(RETENTION):   # another node runs it
                return
            plan = plan_retention(self.app.config.monitor.retention, self.app.clock())
            try:
                run_retention(self.app.store, plan, self.stopping.is_set)
            except StoreError as exc:  # tried again at the next run
                log.error("retention pass failed: %s", exc)

    def _retry(self) -> None:
        """Immediate notifiers: send whatever is pending. Others: only retry formed digests."""
        with self._work.track():
            if self.stopping.is_set():
                return
            others = [n.name for n in self.app.config.notifiers
                      if n.name not in self._immediate]
            self.app.deliverer.flush_all(others, make_digest=False)
            self.app.deliverer.flush_all(self._immediate)
