"""Worker processes: the CPU work of polls on every core of the node (what each does, its
start-up and task: monitor/worker_task.py).

Threads share one core (the GIL). The pipeline's threads fetch (I/O: the per-host gate,
robots.txt and deadlines stay in the daemon's process, so politeness holds as before);
what follows, parsing a body, looking up the guids and URLs the store knows, classifying
the new items, then grouping them into stories and committing the poll
(monitor/poll_commit.py), is sent to worker processes, each with its own connection to the
store, its own classifiers and its own story indexes. A poll whose articles are to be read
comes back sifted: the daemon's process fetches them, then commits the poll itself.

Each worker is a process with a pipe of its own. A pipeline thread that has a body to sift
takes an idle worker, sends it the job and waits for the answer on that pipe: no manager
thread, no task queue, one message each way (a pool with those cost the daemon about 0.6 ms
of CPU per poll in a first cycle, a quarter of its work). With no worker idle, the job
waits in line; the thread that gives a worker back sends it the job waiting longest (with
``batch``, up to that many of the jobs waiting, in one message: on SQLite their polls are
then committed in one transaction), then wakes that job's thread (the worker does not wait
for a second thread to be scheduled); that thread hands the other jobs of its batch their
answers. A job whose worker hangs past the timeout, or dies (a hostile body, a bug, the
OOM killer), while it sifts fails alone: its source gets a ParseError, recorded and retried
as any failed poll (a batch that held it is sent again, a job at a time). Once the worker
says it commits (COMMITTING), the commit has a timeout of its own; a worker stopped or
dead then leaves the poll's outcome unknown: StoreError, nothing recorded, the source
polled again. The worker is replaced (a worker found dead before its job was sent is
replaced, and the job goes to the new one).
Workers start through a forkserver, so they inherit none of the daemon's threads and locks;
the fork server has imported this module and compiled the gazetteer
(monitor/worker_preload.py), which every worker then shares instead of compiling it again.
The app starts its workers as it is built (`SiftWorkers.start`, in the background), so
that the first bodies do not wait for their start-up; a worker that could not start then
is started by a job that needs one. A worker says when it has started (its start-up is
not its first job's time), logs as the daemon does, and ends with the daemon however the
daemon ends (a lifeline pipe, `_end_with_the_daemon`).
"""

from __future__ import annotations

import atexit
import collections
import logging
import multiprocessing
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import timedelta
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

from monitor.config import TopicConfig
from monitor.errors import ParseError, StoreError
from monitor.logs import log_to_stderr
from monitor.types import Polled, Sifted, SiftJob
from monitor.worker_task import (
    COMMITTING,
    SIFTED,
    YOUNG_COLLECTION_EVERY,
    Commits,
    collect_young_less_often,
    sift_batch_in_worker,
    sift_in_worker,
    start_worker,
    tell_the_daemon_with,
)

__all__ = ["YOUNG_COLLECTION_EVERY", "Commits", "SiftWorkers", "collect_young_less_often",
           "sift_in_worker", "start_worker"]

log = logging.getLogger("monitor.workers")
STOP_SECONDS = 5.0   # how long `close` waits for the workers to exit
START_SECONDS = 120.0   # how long a worker may take to start (store, classifiers)
# A worker sifting a batch says SIFTED after a body only once this long has passed without
# a word to the daemon (at most a quarter of the timeout): a batch of quick bodies is then
# one answer, not a message a body, each of which woke a daemon thread (in a first cycle,
# a fifth to a quarter of the daemon's CPU for the hand-off). The daemon waits the timeout
# and this much more for the next word, so each body still has the whole timeout. The same
# for COMMITTING before each poll of a batch committed one by one (PostgreSQL).
QUIET_SECONDS = 0.5


def quiet_for(timeout: float) -> float:
    """How long a worker sifting a batch with this timeout may go without a word."""
    return min(QUIET_SECONDS, timeout / 4)


def _end_with_the_daemon(lifeline: Connection) -> None:
    """Watch the daemon from a thread: only the daemon holds the other end of
    ``lifeline``, and never writes to it, so the read ends when the daemon does, however
    it ended (SIGKILL included). Then this worker ends too, even in the middle of a job
    that would never end (its deadline was the daemon's to enforce). The worker's own
    pipe would tell only at its next read; and the fork server, its parent, lives as long
    as any worker does, so the kernel's parent-death signal cannot tell either."""
    def watch() -> None:
        try:
            lifeline.recv()
        except (EOFError, OSError):
            pass
        os._exit(0)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()


def _serve(conn: Connection, lifeline: Connection, starter: Callable[..., None],
           initargs: tuple[Any, ...], log_level: int = logging.WARNING,
           quiet: float = 0.0) -> None:
    """A worker's life: start (and say so, or why not), then answer (task, job) messages
    until None, or until the daemon's end of the pipe closes (the daemon died). Signals to
    the process group are the daemon's to handle: it stops its workers when it stops.
    It logs as the daemon does, at the daemon's level. In a batch, it says SIFTED after a
    body, and COMMITTING before a poll committed by itself, once ``quiet`` seconds have
    passed since the daemon last heard from it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    log_to_stderr(log_level)
    _end_with_the_daemon(lifeline)
    said: list[bool] = []    # this job's worker said it commits
    heard = [0.0]    # when the daemon last heard from this worker, or sent it a job

    def committing() -> None:
        # Once a message; again before a poll of a batch committed alone (PostgreSQL) once
        # it has been quiet a while, so that each poll's commit has the whole timeout.
        now = time.monotonic()
        if not said or now - heard[0] >= quiet:
            conn.send(COMMITTING)
            said.append(True)
            heard[0] = now

    def sifted() -> None:
        now = time.monotonic()
        if now - heard[0] >= quiet:
            conn.send(SIFTED)
            heard[0] = now

    tell_the_daemon_with(committing, sifted)
    try:
        starter(*initargs)
    except Exception as exc:  # noqa: BLE001 - the daemon reports it
        conn.send((False, f"{type(exc).__name__}: {exc}"))
        return
    conn.send((True, None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        heard[0] = time.monotonic()
        target, job = message
        said.clear()
        try:
            answer: tuple[bool, Any] = (True, target(job))
        except Exception as exc:  # noqa: BLE001 - the job's failure is the daemon's to judge
            answer = (False, exc)
        try:
            conn.send(answer)
        except OSError:
            return    # the daemon is gone
        except Exception as exc:  # noqa: BLE001 - an answer that does not pickle
            why = f"the worker's answer could not be sent: {exc}"
            # Past its word that it commits, the poll may be committed: not the body's fault.
            conn.send((False, StoreError(f"{why}; whether the poll was committed is not "
                                         "known") if said else ParseError(why)))


def _unpickled(answer: bytes) -> tuple[bool, Any]:
    """One job's answer in a batch's (pickled on its own); one that cannot be read leaves
    the job's outcome unknown (it may be committed), not the others'."""
    try:
        value: tuple[bool, Any] = ForkingPickler.loads(answer)
    except Exception as exc:  # noqa: BLE001 - this job's answer only
        return False, StoreError(f"the worker's answer could not be read ({exc}); whether "
                                 "the poll was committed is not known")
    return value


class WorkerStartError(Exception):
    """A worker process did not start (its store or classifiers failed, or it died)."""


class CommitInDoubt(Exception):
    """A worker was stopped, or died, while it committed a poll: whether the commit was
    made is not known."""


class WorkerGone(Exception):
    """An idle worker had died before it was sent a job (between the check that it lives
    and the send): the job is not to blame, and goes to another worker."""


class _Process:
    """One worker process and the daemon's end of its pipe."""

    def __init__(self, context: Any, starter: Callable[..., None],
                 initargs: tuple[Any, ...], quiet: float = 0.0) -> None:
        self.conn, child = context.Pipe()
        lifeline, self.lifeline = context.Pipe(duplex=False)   # the worker's end reads
        self.quiet = quiet    # how long it may sift a batch without a word (`_serve`)
        level = logging.getLogger().getEffectiveLevel()
        self.process = context.Process(target=_serve, daemon=True, name="monitor-worker",
                                       args=(child, lifeline, starter, initargs, level,
                                             quiet))
        try:
            self.process.start()
        except BaseException:
            self.conn.close()
            self.lifeline.close()
            raise
        finally:
            child.close()
            lifeline.close()

    def started(self, timeout: float) -> None:
        """Wait until the worker has started (its start-up is not its first job's time);
        raises WorkerStartError (the worker then stopped) when it could not."""
        try:
            ok, why = self.conn.recv() if self.conn.poll(timeout) else (
                False, f"it took longer than {timeout:g}s")
        except (EOFError, OSError):
            self.process.join(1.0)
            ok, why = False, f"it exited (code {self.process.exitcode})"
        if not ok:
            self.stop(0)
            raise WorkerStartError(why)

    def run(self, message: bytes, timeout: float, sent: bool = False,
            batch: bool = False) -> tuple[bool, Any]:
        """``message``: the (task, job) pair, pickled. (True, the task's result) or (False,
        the exception it raised). Raises
        TimeoutError (the worker is then stuck), EOFError or OSError (the worker died),
        WorkerGone (it had died before it got the job), CommitInDoubt (it was stuck, or
        died, committing the job's poll). ``timeout`` bounds the sifting (of each body of
        a ``batch``: the worker says SIFTED after a body once it has been ``quiet`` a
        while, and the daemon waits that much longer), then the commit (of each poll of a
        batch whose polls commit one by one, on PostgreSQL: the worker says COMMITTING
        again before a poll once it has been quiet a while). ``sent``: the job
        was sent already (`SiftWorkers._give_back`; the timeout then runs from this call,
        a moment after the send)."""
        try:
            if not sent:
                self.conn.send_bytes(message)
        except OSError as exc:    # no one reads the pipe: the worker was gone (EPIPE)
            raise WorkerGone from exc
        answer: Any = SIFTED
        wait = timeout + self.quiet if batch else timeout
        while answer == SIFTED:   # bodies of a batch sifted: the next has its own time
            if not self.conn.poll(wait):
                late = self._late()   # just now: the batch goes on, or the commit follows
                if late == COMMITTING:
                    raise CommitInDoubt(f"sifting and committing the poll took longer than "
                                        f"{timeout:g}s (its worker process was stopped)")
                if late != SIFTED:
                    raise TimeoutError
            else:
                answer = self.conn.recv()
        while answer == COMMITTING:   # again before a poll of a batch committed alone
            if not self.conn.poll(wait):
                late = self._late()   # just now: the next poll's commit, or the answer
                if late is None:
                    raise CommitInDoubt(f"committing the poll took longer than {timeout:g}s "
                                        "(its worker process was stopped)")
                answer = late
                continue
            try:
                answer = self.conn.recv()
            except (EOFError, OSError):
                raise CommitInDoubt("the worker process died committing the poll") from None
            except Exception as exc:   # an answer that does not unpickle
                raise CommitInDoubt(f"the worker's answer could not be read: {exc}") from None
        result: tuple[bool, Any] = answer
        return result

    def _late(self) -> object:
        """The worker's next message if it is there already (a wait just timed out); None
        if there is none, or the worker is dead, or the message does not unpickle."""
        try:
            if not self.conn.poll(0):
                return None
            message: object = self.conn.recv()
        except Exception:  # noqa: BLE001 - dead, or a message that does not unpickle: none
            return None
        return message

    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def kill(self) -> None:
        """End the process at once; its pipe stays open for the thread that reads it."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(1.0)

    def stop(self, wait: float) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(wait)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)
        self.conn.close()
        self.lifeline.close()


class _Waiting:
    """A job waiting for a worker: the thread that gives a worker back sends it the job,
    then wakes the job's thread (so the worker does not wait for that thread to wake).
    Woken without a worker, the thread tries again (one was stopped: there is room to
    start another; or the workers are stopped).

    Jobs waiting in line are sent together, up to the pool's ``batch``: the first job's
    thread reads the worker's answer and hands each other job its own (``answer``); if
    the worker hangs or dies on the batch, each job is sent again by itself (``again``),
    so that the job at fault fails alone; its source's next jobs are sent by themselves
    until one is sifted (SiftWorkers' suspects)."""

    def __init__(self, message: bytes, source: str, alone: bool = False) -> None:
        self.message = message     # the (task, job) pair, pickled
        self.source = source
        self.alone = alone         # to be sent by itself: its batch was lost
        self.woken = threading.Event()
        self.worker: _Process | None = None
        self.sent = False          # the job was sent to ``worker`` (by `_give_back`)
        self.batch: list[_Waiting] = []      # the other jobs sent with this one
        self.answer: tuple[bool, Any] | None = None   # read by the first job's thread
        self.again = False         # its batch was lost: to be sent again by itself


class _BatchLost(Exception):
    """The worker hung or died on a batch: each of its jobs is sent again by itself."""


class SiftWorkers:
    """Sifts fetched bodies in up to ``count`` worker processes (a Sifter); thread-safe.
    With ``commits``, the workers also commit the polls whose jobs carry a tail.

    ``timeout`` bounds one job once a worker has it (the wait for an idle worker does not
    count; the wait for the record lock, to commit, does), or each body of a batch (with
    `quiet_for` it more), then its commit (of a batch committed one poll at a time, each
    poll's, with `quiet_for` it more). ``target`` is the
    task, a module-level function (it is sent by name). ``batch``: how many jobs waiting in
    line a worker given back is sent at once (`sift_batch_in_worker`: their polls are
    committed together); a job that waits for no one is sent alone, at once.
    """

    def __init__(self, count: int, timeout: float, database: str,
                 topics: Sequence[TopicConfig], max_age: timedelta,
                 target: Callable[[SiftJob], Sifted | Polled] = sift_in_worker,
                 starter: Callable[..., None] = start_worker,
                 commits: Commits | None = None, batch: int = 1) -> None:
        self.count = count
        self.timeout = timeout
        self.batch = max(batch, 1)
        self.target = target
        self.commits = commits is not None
        # The starter is module-level too: (database, topics, max_age[, commits]).
        self._starter = starter
        self._initargs: tuple[Any, ...] = (database, tuple(topics), max_age)
        if commits is not None:
            self._initargs += (commits,)
        self._free = threading.Lock()
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._idle: list[_Process] = []
        self._all: set[_Process] = set()
        self._starting = 0
        self._starters: list[threading.Thread] = []   # `start`'s threads
        self._launching: set[_Process] = set()   # started, not yet ready: `close` kills them
        self._announced = False
        self._closed = False
        # The sources whose body last hung or killed the worker it was sent to: sent alone
        # until a body of theirs is sifted again, so that they cost no batch another round.
        self._suspects: set[str] = set()
        # Workers ignore SIGTERM, which multiprocessing sends its children at exit before
        # joining them: a process that never called close() would wait forever. This
        # handler runs before multiprocessing's (atexit runs the later one first).
        atexit.register(_close_at_exit, weakref.ref(self))

    def start(self) -> None:
        """Start the workers now, each from a thread of its own, and return: the first
        bodies then need not wait for their start-up (a second or so: the fork server's
        imports, then each worker's store and classifiers). A started worker takes the
        jobs waiting, or waits idle. One that cannot start is logged; a job then starts
        another when it needs one, as without this call."""
        for _ in range(self.count):
            with self._free:
                if self._closed or not self._room_to_start():
                    return
                self._starting += 1
            thread = threading.Thread(target=self._start_one, name="monitor-worker-start",
                                      daemon=True)
            try:
                thread.start()
            except RuntimeError as exc:   # no thread to spare: a job starts one instead
                log.warning("worker processes not started ahead: %s", exc)
                with self._free:
                    self._starting -= 1
                    self._wake_one()
                return
            self._starters.append(thread)

    def _start_one(self) -> None:
        """Called with a start counted in ``_starting`` (`_spawn` uncounts it)."""
        try:
            worker = self._spawn()
        except Exception as exc:  # noqa: BLE001 - logged; a job starts one when it needs it
            if not self._closed:   # else `close` stopped it on purpose
                log.error("a worker process could not start: %s", exc)
            return
        self._give_back(worker)

    def __call__(self, job: SiftJob) -> Sifted | Polled:
        """Sift in a worker, and commit there when the job has a tail; a worker that
        hangs or dies sifting the job, or cannot start, raises ParseError; one that does
        committing it, StoreError."""
        alone, gone = job.source in self._suspects, 0
        while True:
            try:
                ok, value = self._run(job, alone)
                break
            except WorkerGone:   # it died idle, not on this job: another worker takes it
                gone += 1
                if gone == 2:
                    raise ParseError("two worker processes died before they got this body "
                                     "(see the log)") from None
            except _BatchLost:   # sent again by itself: if it was at fault, it fails alone
                alone = True
        if not ok:
            raise value   # the job's own failure (a ParseError ...): the worker is fine
        result: Sifted | Polled = value
        return result

    def _run(self, job: SiftJob, alone: bool) -> tuple[bool, Any]:
        """The job in one worker, perhaps with others: its (ok, value) answer, the worker
        given back; ParseError when the worker hangs, dies on it or cannot start;
        WorkerGone (the worker discarded) when it had died before it got the job;
        _BatchLost when it hung or died on a batch that held the job."""
        # Pickled here, in the job's own thread: a job that does not pickle fails alone,
        # and a thread that gives a worker back sends the next job's bytes as they are.
        message = bytes(ForkingPickler.dumps((self.target, job)))
        try:
            turn = self._take(message, job.source, alone)
        except WorkerStartError as exc:
            if self._closed:   # killed by `close` as it started: as any job then
                raise RuntimeError("the worker processes are stopped") from None
            log.error("a worker process could not start: %s", exc)
            raise ParseError(f"a worker process could not start: {exc}") from None
        if turn.answer is not None:    # sent in another job's batch, answered there
            return turn.answer
        if turn.again:
            raise _BatchLost
        worker, others = turn.worker, turn.batch
        assert worker is not None
        try:
            return self._answered(worker, message, turn.sent, job, others)
        finally:
            for other in others:   # whatever happened here, no job's thread waits forever
                if other.answer is None and not other.again:
                    other.again = True
                    other.woken.set()

    def _answered(self, worker: _Process, message: bytes, sent: bool, job: SiftJob,
                  others: list[_Waiting]) -> tuple[bool, Any]:
        """The worker's answer to the job (and to ``others``, sent with it, each handed its
        own); the worker given back, or discarded when it failed."""
        try:
            answer = worker.run(message, self.timeout, sent, batch=bool(others))
        except WorkerGone:
            self._discard(worker)
            log.warning("a worker process had died while idle (exit code %s); another "
                        "takes its place", worker.process.exitcode)
            raise
        except CommitInDoubt as exc:
            # Not the body's fault, nor is the poll known to be lost: not recorded, so
            # that the source keeps its stored state and is polled again. Which poll of a
            # batch was at fault is not known: each is sent alone next time.
            self._discard(worker)
            sources = [job.source, *(other.source for other in others)]
            log.warning("%s %s: %s", "sources" if others else "source",
                        ", ".join(map(repr, sources)), exc)
            if others:
                self._suspects.update(sources)
            error = StoreError(f"{exc}; whether it was committed is not known")
            for other in others:
                other.answer = (False, error)
                other.woken.set()
            raise error from None
        except (TimeoutError, EOFError, OSError) as exc:
            self._discard(worker)
            hung = isinstance(exc, TimeoutError)
            if others:
                log.warning("a worker process %s a batch of %d bodies (exit code %s); each "
                            "is sent again by itself", "hung on" if hung else "died on",
                            1 + len(others), worker.process.exitcode)
                raise _BatchLost from None
            self._suspects.add(job.source)
            if hung:
                raise ParseError(f"reading the body took longer than {self.timeout:g}s "
                                 "(its worker process was stopped)") from None
            log.warning("a worker process died sifting source %r (exit code %s); another "
                        "takes its place", job.source, worker.process.exitcode)
            raise ParseError("the worker process died on this body") from None
        except BaseException:
            self._discard(worker)   # an answer that did not unpickle: start afresh
            raise
        self._suspects.discard(job.source)
        if not others:
            self._give_back(worker)
            return answer
        ok, value = answer
        try:
            # The worker first: it sifts the next batch while the answers are handed out
            # (each wakes a thread, which then wants the GIL: in a first cycle, handing
            # them out first kept each worker waiting about 4 ms a batch, a tenth of its
            # time). The answers are handed out whatever happens here, each once.
            self._give_back(worker)
        finally:
            # Each job's answer is pickled on its own (`sift_batch_in_worker`), so that one
            # that cannot be read costs that job alone. Not ok: the batch's answer could
            # not be sent at all; each job gets the worker's word for it.
            answers = [_unpickled(a) for a in value] if ok else [answer] * (1 + len(others))
            for other, its_answer in zip(others, answers[1:], strict=True):
                other.answer = its_answer
                other.woken.set()
        first: tuple[bool, Any] = answers[0]
        return first

    def _take(self, message: bytes, source: str, alone: bool) -> _Waiting:
        """An idle worker, or a new one while fewer than ``count`` run; else wait until a
        worker is given back, which it is with ``message`` (the job) sent to it, perhaps
        with other jobs, or until the job was answered in another job's batch, or its
        batch lost (``alone``: the job is sent by itself). The job's turn: its worker, or
        its answer, or ``again``."""
        woken = False    # woken without a worker: waits again first in line
        while True:
            waiting = None
            with self._free:
                if self._closed:
                    raise RuntimeError("the worker processes are stopped")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        turn = _Waiting(message, source, alone)
                        turn.worker = worker
                        return turn
                    log.warning("a worker process died while idle (exit code %s); another "
                                "takes its place", worker.process.exitcode)
                    self._all.discard(worker)
                    worker.stop(0)
                if self._room_to_start():
                    self._starting += 1
                else:
                    waiting = _Waiting(message, source, alone)
                    if woken:
                        self._waiting.appendleft(waiting)
                    else:
                        self._waiting.append(waiting)
            if waiting is None:
                turn = _Waiting(message, source, alone)
                turn.worker = self._spawn()
                return turn
            waiting.woken.wait()
            if waiting.worker is not None or waiting.answer is not None or waiting.again:
                return waiting
            woken = True

    def _room_to_start(self) -> bool:
        """Whether one more worker may start (with ``_free`` held)."""
        return len(self._all) + self._starting < self.count

    def _wake_one(self) -> None:
        """Wake a waiting job's thread without a worker: it tries again (with the lock
        held)."""
        if self._waiting:
            self._waiting.popleft().woken.set()

    def _spawn(self) -> _Process:
        """Start a worker (outside the lock: a start takes a moment)."""
        worker: _Process | None = None
        try:
            with self._free:
                if self._closed:
                    raise RuntimeError("the worker processes are stopped")
                announce, self._announced = not self._announced, True
            if announce:
                log.info("sifting fetched bodies in %d worker processes", self.count)
            context = multiprocessing.get_context("forkserver")
            # Imported once by the fork server, not again by every worker it forks.
            context.set_forkserver_preload(["monitor.worker_preload"])
            worker = _Process(context, self._starter, self._initargs,
                              quiet_for(self.timeout))
            with self._free:   # `close` kills the workers still starting (not waited for)
                closed = self._closed
                if not closed:
                    self._launching.add(worker)
            if closed:
                worker.stop(0)
                raise RuntimeError("the worker processes are stopped")
            worker.started(START_SECONDS)
        except BaseException:
            with self._free:
                self._starting -= 1
                if worker is not None:
                    self._launching.discard(worker)
                self._wake_one()
            raise
        with self._free:
            self._starting -= 1
            self._launching.discard(worker)
            self._all.add(worker)
        return worker

    def _give_back(self, worker: _Process) -> None:
        """A worker done with its job: sent the jobs waiting longest (up to ``batch`` of
        them, in one message), if any, else idle."""
        with self._free:
            if self._closed:
                batch = []
            elif self._waiting:
                batch = [self._waiting.popleft()]
                # Only the product's task is batched: its polls are sifted, then committed
                # together, so a body that kills or hangs its worker is known by then.
                size = self.batch if self.target is sift_in_worker else 1
                while (len(batch) < size and self._waiting and not batch[0].alone
                       and not self._waiting[0].alone):
                    batch.append(self._waiting.popleft())
            else:
                self._idle.append(worker)
                return
        if not batch:
            worker.stop(STOP_SECONDS)
            return
        first = batch[0]
        try:
            message = first.message if len(batch) == 1 else bytes(ForkingPickler.dumps(
                (sift_batch_in_worker, [waiting.message for waiting in batch])))
            worker.conn.send_bytes(message)
        except BaseException as exc:   # the jobs' threads try again, with another worker
            if isinstance(exc, OSError):   # it died since it answered
                log.warning("a worker process died while idle (exit code %s); another "
                            "takes its place", worker.process.exitcode)
            self._discard(worker, wake=False)
            for waiting in batch:
                waiting.woken.set()
            if not isinstance(exc, OSError):
                raise
            return
        first.worker, first.sent, first.batch = worker, True, batch[1:]
        first.woken.set()

    def _discard(self, worker: _Process, wake: bool = True) -> None:
        """Stop a worker; with ``wake``, a waiting job's thread starts another."""
        worker.stop(0)
        with self._free:
            self._all.discard(worker)
            if wake:
                self._wake_one()

    def close(self) -> None:
        """Stop the workers (a job still running is abandoned: its poll fails)."""
        with self._free:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = self._all.difference(idle)
            self._all.clear()
            launching = list(self._launching)
            while self._waiting:
                self._wake_one()
        for worker in launching:   # its start then fails: its thread cleans up
            worker.kill()
        for worker in idle:
            worker.stop(STOP_SECONDS)
        for worker in busy:
            # Killed, not closed: its job's thread reads its pipe, sees the end, and
            # closes it (closing a pipe under a reading thread frees its descriptor, which
            # a file or socket opened meanwhile could take).
            worker.kill()
        deadline = time.monotonic() + STOP_SECONDS
        for thread in self._starters:   # each ends soon: its worker was killed, or stopped
            thread.join(max(deadline - time.monotonic(), 0))


def _close_at_exit(ref: weakref.ref[SiftWorkers]) -> None:
    pool = ref()
    if pool is not None:
        pool.close()
