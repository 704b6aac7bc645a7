"""Parsing in worker processes.

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
from dataclasses import dataclass

from monitor.errors import ParseError
from monitor.parse import parse_feed, parse_page
from monitor.types import ParsedFeed

log = logging.getLogger("monitor.workers")


@dataclass(frozen=True)
class ParseJob:
    """What a worker needs to parse one fetched body."""

    kind: str                          # "feed" | "page"
    content: bytes
    url: str
    content_type: str | None = None
    item_selector: str = ""
    link_selector: str = ""
    title_selector: str | None = None
    summary_selector: str | None = None


def run_parse_job(job: ParseJob) -> ParsedFeed:
    """Parse one body (in this process). Raises ParseError."""
    if job.kind == "page":
        return parse_page(job.content, job.url, job.item_selector, job.link_selector,
                          job.title_selector, job.summary_selector, job.content_type)
    return parse_feed(job.content, job.url, job.content_type)


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
