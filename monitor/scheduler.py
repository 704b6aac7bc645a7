"""APScheduler wiring: due sources -> pipeline; digest times -> deliver.

`poll_sources` runs one batch of polls on a bounded thread pool (used by `monitor once`
and by the daemon's tick). `Daemon` is `monitor run`: a tick that submits due sources,
one job per notifier schedule, and a retry tick for failed deliveries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.app import App
from monitor.config import NotifierConfig, SourceConfig, parse_duration
from monitor.pipeline import PollOutcome

log = logging.getLogger("monitor.scheduler")

TICK_SECONDS = 2.0          # how often the daemon looks for due sources
RETRY_TICK_SECONDS = 30.0   # how often it looks for failed deliveries that are due again


def poll_sources(app: App, sources: Iterable[SourceConfig],
                 on_done: Callable[[PollOutcome], None] | None = None) -> list[PollOutcome]:
    """Poll the sources concurrently (at most monitor.max_concurrency in flight)."""
    chosen = list(sources)
    if not chosen:
        return []
    workers = min(app.config.monitor.max_concurrency, len(chosen))
    outcomes: list[PollOutcome] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
        for future in [pool.submit(app.pipeline.poll, s) for s in chosen]:
            outcome = future.result()
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)
    return outcomes


def due_sources(app: App, now: datetime) -> list[SourceConfig]:
    """Configured sources whose next poll time has come (or that were never polled)."""
    due = app.store.due_sources(now)
    return [s for s in app.config.sources if s.name in due]


def schedule_trigger(schedule: str) -> IntervalTrigger | CronTrigger | None:
    """APScheduler trigger for a notifier's schedule; None for "immediate"."""
    if schedule == "immediate":
        return None
    if schedule.startswith("every "):
        return IntervalTrigger(seconds=parse_duration(schedule[6:]).total_seconds())
    return CronTrigger.from_crontab(schedule, timezone="UTC")


class Daemon:
    """`monitor run`: polls sources when due and delivers digests on schedule until stopped."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=app.config.monitor.max_concurrency,
                                        thread_name_prefix="poll")
        self._in_flight: dict[str, Future[PollOutcome]] = {}
        self._lock = threading.Lock()
        self._scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
        self._immediate = [n.name for n in app.config.notifiers if n.schedule == "immediate"]

    def start(self) -> None:
        scheduler = self._scheduler
        scheduler.add_job(self._tick, IntervalTrigger(seconds=TICK_SECONDS), id="tick",
                          next_run_time=self.app.clock())
        scheduler.add_job(self._retry, IntervalTrigger(seconds=RETRY_TICK_SECONDS),
                          id="retry", next_run_time=self.app.clock())
        for notifier in self.app.config.notifiers:
            trigger = schedule_trigger(notifier.schedule)
            if trigger is not None:
                scheduler.add_job(self._flush, trigger, args=[notifier], id=f"digest:"
                                  f"{notifier.name}")
        scheduler.start()
        log.info("daemon started: %d sources, %d topics, %d notifiers",
                 len(self.app.config.sources), len(self.app.config.topics),
                 len(self.app.config.notifiers))

    def run_until_stopped(self) -> None:
        self.start()
        try:
            self.stopping.wait()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop taking work, let polls in flight finish (bounded by the fetch deadline)."""
        self.stopping.set()
        self._scheduler.shutdown(wait=False)
        self._pool.shutdown(wait=True, cancel_futures=True)
        log.info("daemon stopped")

    def _tick(self) -> None:
        if self.stopping.is_set():
            return
        with self._lock:
            for source in due_sources(self.app, self.app.clock()):
                if source.name in self._in_flight:
                    continue
                try:
                    future = self._pool.submit(self.app.pipeline.poll, source)
                except RuntimeError:  # the pool is shutting down
                    return
                self._in_flight[source.name] = future
                future.add_done_callback(lambda f, name=source.name: self._polled(name, f))

    def _polled(self, name: str, future: Future[PollOutcome]) -> None:
        with self._lock:
            self._in_flight.pop(name, None)
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.error("poll of %r crashed", name, exc_info=error)
            return
        if future.result().matched and self._immediate and not self.stopping.is_set():
            threading.Thread(target=self._deliver_immediate, name="deliver-immediate",
                             daemon=True).start()

    def _deliver_immediate(self) -> None:
        self.app.deliverer.flush_all(self._immediate)

    def _flush(self, notifier: NotifierConfig) -> None:
        if not self.stopping.is_set():
            self.app.deliverer.flush(notifier.name)

    def _retry(self) -> None:
        """Immediate notifiers: send whatever is pending. Others: only retry formed digests."""
        if self.stopping.is_set():
            return
        others = [n.name for n in self.app.config.notifiers if n.name not in self._immediate]
        self.app.deliverer.flush_all(others, make_digest=False)
        self.app.deliverer.flush_all(self._immediate)
