"""Parsing in worker processes: the process pool (the parsers are in monitor/parse/).

Parsing is the costliest CPU stage of a poll. Threads share one core (the GIL); worker
processes use every core, and a parser that hangs or crashes on a hostile body takes down
a worker, not the daemon: that source gets a ParseError and the pool is renewed.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from monitor.errors import ParseError
from monitor.parse.jobs import run_parse_job
from monitor.types import ParsedFeed, ParseJob

# ParseJob and run_parse_job live in the parse stage (monitor/parse/jobs.py); named here too
# for the modules that import them from here.
__all__ = ["ParseWorkers"]

log = logging.getLogger("monitor.workers")


class _Bystander(Exception):
    """A job lost because its pool was renewed for another job's crash or timeout."""


class ParseWorkers:
    """A process pool for ParseJobs, started on first use, renewed when a worker dies."""

    def __init__(self, workers: int, timeout: float,
                 target: Callable[[ParseJob], ParsedFeed] = run_parse_job) -> None:
        self.workers = workers
        self.timeout = timeout
        self.target = target               # a module-level function: it is sent by name
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._killed: weakref.WeakSet[ProcessPoolExecutor] = weakref.WeakSet()

    def __call__(self, job: ParseJob) -> ParsedFeed:
        """Parse in a worker. A job that was only caught in another job's crash or timeout
        (its pool was renewed under it) is tried once more in the new pool."""
        try:
            return self._attempt(job)
        except _Bystander:
            try:
                return self._attempt(job)
            except _Bystander:
                raise ParseError("the parser process died on this body") from None

    def _attempt(self, job: ParseJob) -> ParsedFeed:
        pool = self._current()
        try:
            future: Future[ParsedFeed] = pool.submit(self.target, job)
        except (BrokenProcessPool, RuntimeError):
            self._renew(pool, culprit=False)
            pool = self._current()
            future = pool.submit(self.target, job)
        deadline = time.monotonic() + self.timeout
        while not future.running() and not future.done():
            # Queue time does not count against the job: only its own parse does.
            time.sleep(0.005)
            deadline = time.monotonic() + self.timeout
        try:
            return future.result(timeout=max(deadline - time.monotonic(), 0.0))
        except FutureTimeout:
            self._renew(pool)
            raise ParseError(f"parsing took longer than {self.timeout:g}s") from None
        except BrokenProcessPool:
            renewed_by_other = self._renew(pool, culprit=False)
            if renewed_by_other:
                raise _Bystander from None
            raise ParseError("the parser process died on this body") from None

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # forkserver: workers do not inherit the daemon's threads and locks.
                context = multiprocessing.get_context("forkserver")
                self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
            return self._pool

    def _renew(self, broken: ProcessPoolExecutor, culprit: bool = True) -> bool:
        """Replace a broken pool. Returns True when another job had already renewed it
        (this job was a bystander of that job's crash or timeout)."""
        with self._lock:
            if self._pool is not broken:
                return True
            if not culprit and broken in self._killed:
                return True
            log.warning("renewing the parser worker pool")
            _terminate(broken)
            self._killed.add(broken)
            self._pool = None
            return False

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                _terminate(self._pool)
                self._pool = None


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers now, even one stuck in a parse (no public API does this)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
