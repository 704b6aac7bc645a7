"""Worker processes: the CPU work of polls (monitor/sift.py) on every core of the node.

Threads share one core (the GIL). The pipeline's threads fetch (I/O: the per-host gate,
robots.txt and deadlines stay in the daemon's process, so politeness holds as before) and
commit (one writer); what lies between, parsing a body, looking up the guids and URLs the
store knows and classifying the new items, is sent to worker processes, each with its own
read connection to the store and its own classifiers.

The pool is pebble's ProcessPool: a job whose worker hangs past the timeout, or dies (a
hostile body, a bug, the OOM killer), fails alone (its source gets a ParseError, recorded
and retried as any failed poll); the pool starts a new worker in its place and the other
jobs go on. Workers start on the first job, through a forkserver, so they inherit none of
the daemon's threads and locks.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta

from pebble import ProcessExpired, ProcessPool

from monitor.classify import TopicClassifier, build_classifier
from monitor.config import TopicConfig
from monitor.errors import ParseError
from monitor.parse.jobs import run_parse_job
from monitor.ports import ItemKeys
from monitor.sift import sift
from monitor.store import open_store
from monitor.types import Sifted, SiftJob

__all__ = ["SiftWorkers", "sift_in_worker"]

log = logging.getLogger("monitor.workers")
STOP_SECONDS = 5.0   # how long `close` waits for the workers to exit


class _Worker:
    """What one worker process sifts with, built once when it starts."""

    keys: ItemKeys
    classifiers: dict[str, TopicClassifier]
    max_age: timedelta


# The worker process's own sifter (set by `_start_worker`, in the worker only): a pool's
# initializer can hand state to its tasks in no other way.
_WORKER = _Worker()


def _start_worker(database: str, topics: Sequence[TopicConfig], max_age: timedelta) -> None:
    # A worker sifts one job at a time: one connection (PostgreSQL) is all it uses.
    _WORKER.keys = open_store(database, connections=1)
    _WORKER.classifiers = {topic.name: build_classifier(topic) for topic in topics}
    _WORKER.max_age = max_age


def sift_in_worker(job: SiftJob) -> Sifted:
    """A worker's task: sift one body with the worker's store connection and classifiers."""
    return sift(job, run_parse_job, _WORKER.keys, _WORKER.classifiers, _WORKER.max_age)


class SiftWorkers:
    """Sifts fetched bodies in ``count`` worker processes (a Sifter); thread-safe.

    ``timeout`` bounds one job once a worker has begun it (queue time does not count).
    ``target`` is the task, a module-level function (it is sent by name).
    """

    def __init__(self, count: int, timeout: float, database: str,
                 topics: Sequence[TopicConfig], max_age: timedelta,
                 target: Callable[[SiftJob], Sifted] = sift_in_worker) -> None:
        self.count = count
        self.timeout = timeout
        self.target = target
        self._initargs = (database, tuple(topics), max_age)
        self._lock = threading.Lock()
        self._pool: ProcessPool | None = None
        self._closed = False

    def __call__(self, job: SiftJob) -> Sifted:
        """Sift in a worker. A pool that broke (a worker died while idle, which pebble takes
        for a broken pool) is replaced, and the job tried once more in the new one."""
        for attempt in (1, 2):
            pool = self._current()
            try:
                return self._attempt(pool, job)
            except Exception as exc:
                if pool.active:
                    raise             # the job's own failure (its exception is the task's)
                self._renew(pool, exc)
                if attempt == 2:
                    raise ParseError(f"the worker processes failed: {exc}") from exc
        raise AssertionError("unreachable")

    def _attempt(self, pool: ProcessPool, job: SiftJob) -> Sifted:
        future = pool.schedule(self.target, (job,), timeout=self.timeout)
        try:
            result: Sifted = future.result()
        except TimeoutError:
            raise ParseError(f"reading the body took longer than {self.timeout:g}s "
                             "(its worker process was stopped)") from None
        except ProcessExpired as exc:
            log.warning("a worker process died sifting source %r (exit code %s); another "
                        "takes its place", job.source, exc.exitcode)
            raise ParseError("the worker process died on this body") from None
        return result

    def _renew(self, broken: ProcessPool, error: Exception) -> None:
        with self._lock:
            if self._pool is not broken:
                return                # another job renewed it already
            self._pool = None
        log.warning("the worker processes failed (%s); starting new ones", error)
        _stop(broken)

    def _current(self) -> ProcessPool:
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker processes are stopped")
            if self._pool is None:
                log.info("sifting fetched bodies in %d worker processes", self.count)
                context = multiprocessing.get_context("forkserver")
                # Imported once by the fork server, not again by every worker it forks.
                context.set_forkserver_preload(["monitor.workers"])
                self._pool = ProcessPool(self.count, initializer=_start_worker,
                                         initargs=self._initargs, context=context)
            return self._pool

    def close(self) -> None:
        """Stop the workers (a job still running is abandoned: its poll fails)."""
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            _stop(pool)


def _stop(pool: ProcessPool) -> None:
    pool.stop()  # type: ignore[no-untyped-call]  # pebble leaves it unannotated
    try:
        pool.join(STOP_SECONDS)
    except TimeoutError:
        log.warning("worker processes still running %gs after stop", STOP_SECONDS)
