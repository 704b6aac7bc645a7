"""Polls waiting for a worker go to it together and are committed in one transaction
(SQLite): each poll is kept or lost alone, a body that kills or hangs its worker fails
alone, and a batch whose commit fails leaves nothing behind, not even in the story index.

Real worker processes and real SQLite files; the jobs are real feeds sifted as a poll
sifts them.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from monitor import worker_task
from monitor import workers as workers_module
from monitor.app import build_app, build_classifiers, operators, poll_settings, subscribers
from monitor.config import Config, load_config_data
from monitor.errors import ParseError, StoreError
from monitor.parse.jobs import run_parse_job
from monitor.poll_commit import PollCommitter, PollToCommit
from monitor.sift import sift
from monitor.store import open_store
from monitor.store.sqlite import RECORD_LOCK_SUFFIX, SqliteStore
from monitor.types import FetchResult, ParseJob, Polled, PollTail, SiftJob
from monitor.worker_task import COMMITTING, SIFTED
from monitor.workers import Commits, SiftWorkers, start_worker

NOW = datetime.now(UTC).replace(microsecond=0)
# The tests that line jobs up behind the record lock see its waiters in the kernel's list.
needs_proc_locks = pytest.mark.skipif(not Path("/proc/locks").exists(),
                                      reason="reads the file locks waited for from /proc/locks")
MATCH = "Uzbekistan accepts the credentials of the Taliban's ambassador in Tashkent"
DOOMED = "doomed-body"   # a title that makes the test's parser kill or hang its worker


def rss(n: int, titles: Sequence[str]) -> bytes:
    published = format_datetime(NOW - timedelta(minutes=5), usegmt=True)
    entries = "".join(
        f"<item><guid>w{n}-{k}</guid><title>{escape(title)}</title>"
        f"<link>https://w{n}.example/{k}</link><pubDate>{published}</pubDate></item>"
        for k, title in enumerate(titles))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>wire {n}</title>'
            f"<link>https://w{n}.example/</link>{entries}</channel></rss>").encode()


def sleepy(n: int, seconds: float) -> bytes:
    """A body that takes its worker ``seconds`` to read."""
    return body(n, doomed=True).replace(f"<title>wire {n}<".encode(),
                                        f"<title>sleep {seconds}<".encode())


def hear_the_workers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every message the daemon's side reads from its workers' pipes, from now on."""
    heard: list[Any] = []
    recv = Connection.recv

    def recording(conn: Connection) -> Any:
        message = recv(conn)
        heard.append(message)
        return message

    monkeypatch.setattr(Connection, "recv", recording)
    return heard


def body(n: int, *, match: bool = False, doomed: bool = False) -> bytes:
    titles = [f"Weather report {k} from desk {n}" for k in range(4)]
    if match:
        titles.append(MATCH)
    if doomed:
        titles.append(DOOMED)
    return rss(n, titles)


def make_config(tmp_path: Path, sources: int) -> Config:
    return load_config_data({
        "monitor": {"database": str(tmp_path / "m.db"), "fetch_articles": "never"},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": f"wire {n}", "url": f"https://w{n}.example/rss"}
                    for n in range(sources)],
        "notifiers": [{"name": "desk", "type": "file", "path": str(tmp_path / "desk.log")}]})


def jobs(config: Config, bodies: Sequence[bytes]) -> list[SiftJob]:
    """A first poll's job for each source, its body fetched, as the pipeline makes it."""
    app = build_app(config)   # the schema and the sources
    try:
        states = [app.store.source_state(source.name) for source in config.sources]
    finally:
        app.close()
    made = []
    for source, state, content in zip(config.sources, states, bodies, strict=True):
        fetched = FetchResult(source.url, 200, None,
                              headers={"content-type": "application/rss+xml"})
        tail = PollTail(timedelta(minutes=15), False, fetched,
                        hashlib.sha256(content).hexdigest())
        made.append(SiftJob(source.name, ParseJob("feed", content, source.url,
                                                  "application/rss+xml"), state, NOW, tail))
    return made


def commits(config: Config) -> Commits:
    return Commits(poll_settings(config), {t: tuple(n) for t, n in subscribers(config).items()},
                   operators(config), None, "never")


# -- in the worker process --------------------------------------------------------------

def doomed_parse(job: ParseJob) -> Any:
    """The real parser, except on a doomed body: SIGKILL (as by the OOM killer), a hang,
    or a failure that does not pickle, as the body's feed title says."""
    if DOOMED.encode() in job.content:
        if b"kill" in job.content:
            os.kill(os.getpid(), signal.SIGKILL)
        if b"slow" in job.content:   # slow, but each within the timeout
            time.sleep(0.5)
            return run_parse_job(job)
        asleep = re.search(rb"<title>sleep ([0-9.]+)<", job.content)
        if asleep:   # as slow as its title says
            time.sleep(float(asleep.group(1)))
            return run_parse_job(job)
        if b"unpicklable" in job.content:
            error = ParseError("a body this parser cannot read")
            error.hook = lambda: None   # type: ignore[attr-defined]
            raise error
        time.sleep(60)
    return run_parse_job(job)


def start_recording_worker(database: str, *args: Any) -> None:
    """A worker's start-up that also writes the sources of each batch it is sent, a line a
    batch, to ``<database>.batches``, and reads bodies with `doomed_parse`."""
    start_worker(database, *args)
    with open(f"{database}.starts", "a", encoding="ascii") as starts:
        starts.write(f"{os.getpid()}\n")
    batch = worker_task.sift_batch_in_worker

    def recorded(messages: Sequence[bytes]) -> list[tuple[bool, Any]]:
        with open(f"{database}.batches", "a", encoding="utf-8") as log:
            log.write(",".join(pickle.loads(m)[1].source for m in messages) + "\n")
        return batch(messages)

    # The daemon sends the batch's task by name: this process finds the recording one.
    worker_task.sift_batch_in_worker = recorded
    worker_task.run_parse_job = doomed_parse       # type: ignore[attr-defined]


def batches(config: Config) -> list[list[str]]:
    """The sources of each batch the worker was sent (not the jobs sent alone)."""
    path = Path(f"{config.monitor.database}.batches")
    return [line.split(",") for line in path.read_text(encoding="utf-8").splitlines()]


def waiting_for_the_lock(database: str) -> int:
    """How many processes wait for the store's record lock (the kernel's /proc/locks)."""
    inode = os.stat(os.path.realpath(database) + RECORD_LOCK_SUFFIX).st_ino
    with open("/proc/locks", encoding="ascii") as locks:
        return sum(1 for line in locks if "->" in line and f":{inode} " in line)


def wait_until(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def run_queued(workers: SiftWorkers, sift_jobs: Sequence[SiftJob], database: str) -> list[Any]:
    """The first job sent to the worker, which then waits for the record lock (held here)
    to commit it; meanwhile every other job waits in line for the worker. Then the lock
    goes: the worker is given back and sent the others, a batch at a time. Each job's
    answer, or the exception it raised."""
    results: list[Any] = [None] * len(sift_jobs)

    def run(index: int) -> None:
        try:
            results[index] = workers(sift_jobs[index])
        except Exception as exc:  # noqa: BLE001 - the test compares them
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sift_jobs))]
    store = open_store(database)
    try:
        with store.record_lock():
            threads[0].start()
            wait_until(lambda: waiting_for_the_lock(database) == 1)
            for thread in threads[1:]:
                thread.start()
            wait_until(lambda: len(workers._waiting) == len(sift_jobs) - 1)
        for thread in threads:
            thread.join(120)
    finally:
        store.close()
    return results


def stored_sources(config: Config) -> set[str]:
    db = sqlite3.connect(config.monitor.database)
    try:
        return {source for (source,) in db.execute("SELECT DISTINCT source FROM items")}
    finally:
        db.close()


@contextmanager
def one_worker(config: Config, timeout: float = 60) -> Iterator[SiftWorkers]:
    workers = SiftWorkers(1, timeout, config.monitor.database, config.topics,
                          config.monitor.max_age, starter=start_recording_worker,
                          commits=commits(config), batch=8)
    try:
        yield workers
    finally:
        workers.close()


@needs_proc_locks
def test_polls_waiting_for_the_worker_are_committed_together(tmp_path: Path) -> None:
    config = make_config(tmp_path, 16)
    sift_jobs = jobs(config, [body(n, match=n % 5 == 0) for n in range(16)])
    with one_worker(config) as workers:
        results = run_queued(workers, sift_jobs, config.monitor.database)
    assert all(isinstance(r, Polled) for r in results), results
    assert [r.state.name for r in results] == [f"wire {n}" for n in range(16)]
    assert [r.matched for r in results] == [int(n % 5 == 0) for n in range(16)]
    assert stored_sources(config) == {f"wire {n}" for n in range(16)}
    # The first alone; the fifteen that waited, eight, then seven.
    assert [len(sources) for sources in batches(config)] == [8, 7]


@needs_proc_locks
@pytest.mark.parametrize("how, error", [("kill", "died on this body"),
                                        ("hang", "took longer than 3s")])
def test_a_body_that_kills_or_hangs_its_worker_in_a_batch_fails_alone(
        tmp_path: Path, how: str, error: str) -> None:
    config = make_config(tmp_path, 12)
    bodies = [body(n) for n in range(12)]
    bodies[6] = body(6, doomed=True).replace(b"<title>wire 6", f"<title>{how}".encode())
    sift_jobs = jobs(config, bodies)
    with one_worker(config, timeout=3) as workers:
        results = run_queued(workers, sift_jobs, config.monitor.database)
        assert isinstance(results[6], ParseError) and error in str(results[6])
        assert all(isinstance(r, Polled) for n, r in enumerate(results) if n != 6), results
        assert stored_sources(config) == {f"wire {n}" for n in range(12) if n != 6}
        # It was first sent with others; they were sent again, each by itself.
        assert any("wire 6" in sources and len(sources) > 1 for sources in batches(config))
        # Its next poll is sent by itself at once: the others are sent together again.
        first_round = len(batches(config))
        again = run_queued(workers, sift_jobs, config.monitor.database)
        assert isinstance(again[6], ParseError)
        assert all(isinstance(r, Polled) for n, r in enumerate(again) if n != 6), again
        later = batches(config)[first_round:]
        assert later and all("wire 6" not in sources for sources in later)


@needs_proc_locks
def test_the_timeout_bounds_each_body_of_a_batch_not_the_batch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight bodies of half a second each, in one batch, with a timeout of two seconds: the
    batch takes longer than the timeout, no body does, and nothing is lost or sent again.
    The worker says so after each body but the last (each took its half second)."""
    heard = hear_the_workers(monkeypatch)
    config = make_config(tmp_path, 9)
    bodies = [body(n) for n in range(9)]
    for n in range(1, 9):
        bodies[n] = body(n, doomed=True).replace(f"<title>wire {n}".encode(), b"<title>slow")
    with one_worker(config, timeout=2) as workers:
        results = run_queued(workers, jobs(config, bodies), config.monitor.database)
    assert [r.state.name for r in results] == [f"wire {n}" for n in range(9)], results
    assert [len(sources) for sources in batches(config)] == [8]
    starts = Path(f"{config.monitor.database}.starts").read_text().split()
    assert len(starts) == 1     # the worker was never stopped
    assert heard.count(SIFTED) == 7


@needs_proc_locks
def test_a_batch_of_quick_bodies_is_answered_without_a_word_a_body(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Quick bodies in a batch: the worker says nothing after each (each word wakes one of
    the daemon's threads), only that it commits, once a job sent (the first alone, then
    the batch of eight), and then the answers."""
    heard = hear_the_workers(monkeypatch)
    config = make_config(tmp_path, 9)
    with one_worker(config) as workers:
        results = run_queued(workers, jobs(config, [body(n) for n in range(9)]),
                             config.monitor.database)
    assert all(isinstance(r, Polled) for r in results), results
    assert [len(sources) for sources in batches(config)] == [8]
    assert heard.count(SIFTED) == 0
    assert heard.count(COMMITTING) == 2


@needs_proc_locks
def test_a_body_after_a_quiet_while_still_has_the_whole_timeout(tmp_path: Path) -> None:
    """Timeout 2 s, so a worker may go half a second without a word: after a body of 0.2 s,
    of which it says nothing, a body of 1.85 s is still within its time, though the
    daemon hears nothing for 2.05 s. Neither is stopped or sent again."""
    config = make_config(tmp_path, 3)
    bodies = [body(0), sleepy(1, 0.2), sleepy(2, 1.85)]
    with one_worker(config, timeout=2) as workers:
        results = run_queued(workers, jobs(config, bodies), config.monitor.database)
    assert all(isinstance(r, Polled) for r in results), results
    assert [len(sources) for sources in batches(config)] == [2]
    starts = Path(f"{config.monitor.database}.starts").read_text().split()
    assert len(starts) == 1     # the worker was never stopped


@needs_proc_locks
def test_an_answer_that_does_not_pickle_costs_its_job_alone(tmp_path: Path) -> None:
    config = make_config(tmp_path, 6)
    bodies = [body(n) for n in range(6)]
    bodies[3] = body(3, doomed=True).replace(b"<title>wire 3", b"<title>unpicklable")
    with one_worker(config) as workers:
        results = run_queued(workers, jobs(config, bodies), config.monitor.database)
    assert isinstance(results[3], ParseError) and "could not be sent" in str(results[3])
    assert [r.state.name for n, r in enumerate(results) if n != 3] == [
        f"wire {n}" for n in range(6) if n != 3]
    assert stored_sources(config) == {f"wire {n}" for n in range(6) if n != 3}
    assert any("wire 3" in sources and len(sources) > 1 for sources in batches(config))


@needs_proc_locks
def test_a_worker_gets_its_next_batch_before_the_answers_of_its_last_are_handed_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Handing out a batch's answers wakes a thread each: the worker is sent the jobs
    waiting first, so that it does not wait for those threads. Every job still gets its
    own answer, once."""
    lined_up: list[Any] = []    # every job that waited for the worker

    class Recorded(workers_module._Waiting):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            lined_up.append(self)

    monkeypatch.setattr(workers_module, "_Waiting", Recorded)
    answered_at_send: list[int] = []   # at each send, how many waiting jobs had an answer
    send_bytes = Connection.send_bytes

    def counting(conn: Connection, *args: Any, **kwargs: Any) -> None:
        answered_at_send.append(sum(1 for w in lined_up if w.answer is not None))
        send_bytes(conn, *args, **kwargs)

    monkeypatch.setattr(Connection, "send_bytes", counting)
    config = make_config(tmp_path, 17)
    with one_worker(config) as workers:
        results = run_queued(workers, jobs(config, [body(n, match=n % 4 == 0)
                                                    for n in range(17)]),
                             config.monitor.database)
    assert [r.state.name for r in results] == [f"wire {n}" for n in range(17)], results
    assert [r.matched for r in results] == [int(n % 4 == 0) for n in range(17)]
    # The first job alone, then two batches of eight: the second was sent before any job
    # of the first (but the one whose thread reads the answer) was handed its own (in the
    # other order, the last count is 7).
    assert [len(sources) for sources in batches(config)] == [8, 8]
    assert answered_at_send == [0, 0, 0]


# -- PollCommitter.commit_polls, in this process ------------------------------------------

def to_commit(config: Config, store: SqliteStore, bodies: Sequence[bytes]) -> list[PollToCommit]:
    classifiers = build_classifiers(config)
    made = []
    for source, content in zip(config.sources, bodies, strict=True):
        state = store.source_state(source.name)
        job = SiftJob(source.name, ParseJob("feed", content, source.url), state, NOW)
        sifted = sift(job, run_parse_job, store, classifiers, config.monitor.max_age)
        made.append(PollToCommit(source.name, timedelta(minutes=15), state,
                                 FetchResult(source.url, 200, content), NOW,
                                 hashlib.sha256(content).hexdigest(), sifted.items,
                                 sifted.new_items, sifted.decisions))
    return made


def committer(config: Config, store: Any, owner: str | None = None) -> PollCommitter:
    import random

    return PollCommitter(poll_settings(config), store, subscribers(config), random.Random(1),
                         operators(config), owner, shared=True)


def stories(database: str) -> list[tuple[int, int]]:
    """(story id, how many items it holds), and the outbox rows' stories."""
    db = sqlite3.connect(database)
    try:
        return sorted(db.execute("SELECT story_id, COUNT(*) FROM story_items GROUP BY story_id"))
    finally:
        db.close()


REFUSALS = {
    # Another node holds the source's lease: its poll may not be recorded here.
    "leased": ("UPDATE sources SET lease_owner = 'other', lease_until = '2999-01-01T00:00:00' "
               "WHERE name = 'wire 1'", "leased to another node"),
    # The database refuses the poll's story once its items are in (as a full disk would).
    "refused midway": ("CREATE TRIGGER refuse BEFORE INSERT ON story_items WHEN (SELECT "
                       "source FROM items WHERE id = NEW.item_id) = 'wire 1' BEGIN SELECT "
                       "RAISE(ABORT, 'database or disk is full'); END", "disk is full"),
}


def test_a_poll_that_rolls_back_the_whole_transaction_fails_the_batch(tmp_path: Path) -> None:
    """SQLite may end the whole transaction on an error (an I/O error, a full disk): then
    no poll of the batch is kept, and none is said to be, the later ones included."""
    config = make_config(tmp_path, 3)
    build_app(config).close()
    db = sqlite3.connect(config.monitor.database)
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON story_items WHEN (SELECT source FROM "
               "items WHERE id = NEW.item_id) = 'wire 1' BEGIN SELECT RAISE(ROLLBACK, "
               "'disk I/O error'); END")
    db.commit()
    db.close()
    store = open_store(config.monitor.database)
    assert isinstance(store, SqliteStore)
    try:
        polls = to_commit(config, store, [body(0, match=True), body(1, match=True), body(2)])
        results = committer(config, store).commit_polls(polls)
        assert all(isinstance(r, StoreError) for r in results), results
        assert all(store.source_state(f"wire {n}").body_hash is None for n in range(3))
    finally:
        store.close()
    assert stored_sources(config) == set() and stories(config.monitor.database) == []


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_a_poll_refused_in_a_batch_is_rolled_back_alone(tmp_path: Path, refusal: str) -> None:
    config = make_config(tmp_path, 3)
    build_app(config).close()
    sql, error = REFUSALS[refusal]
    db = sqlite3.connect(config.monitor.database)
    db.execute(sql)
    db.commit()
    db.close()
    store = open_store(config.monitor.database)
    assert isinstance(store, SqliteStore)
    try:
        polls = to_commit(config, store, [body(n, match=True) for n in range(3)])
        results = committer(config, store, owner="me").commit_polls(polls)
        assert isinstance(results[0], Polled) and isinstance(results[2], Polled)
        assert isinstance(results[1], StoreError) and error in str(results[1])
        assert store.source_state("wire 1").body_hash is None
        assert store.source_state("wire 2").body_hash == polls[2].body_hash
    finally:
        store.close()
    assert stored_sources(config) == {"wire 0", "wire 2"}
    # The two matches are one story: the third poll joined the first's, in the batch.
    assert stories(config.monitor.database) == [(1, 2)]


def test_the_same_link_from_two_sources_in_one_batch_alerts_once(tmp_path: Path) -> None:
    """Each poll of a batch sees what the ones before it wrote, uncommitted: the second
    copy of a link is a duplicate, as it is when the polls commit one after the other."""
    config = make_config(tmp_path, 2)
    build_app(config).close()
    published = format_datetime(NOW - timedelta(minutes=5), usegmt=True)
    same = [(f'<?xml version="1.0"?><rss version="2.0"><channel><title>wire {n}</title>'
             f"<item><guid>w{n}-1</guid><title>{escape(MATCH)}</title>"
             f"<link>https://shared.example/story</link><pubDate>{published}</pubDate>"
             f"</item></channel></rss>").encode() for n in range(2)]
    store = open_store(config.monitor.database)
    assert isinstance(store, SqliteStore)
    try:
        first, second = committer(config, store).commit_polls(to_commit(config, store, same))
        assert isinstance(first, Polled) and isinstance(second, Polled)
        assert len(first.alerting) == 1 and second.alerting == ()
    finally:
        store.close()
    db = sqlite3.connect(config.monitor.database)
    try:
        assert sorted(db.execute("SELECT source, alert FROM items")) == [("wire 0", 1),
                                                                         ("wire 1", 0)]
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
    finally:
        db.close()


class FailingCommit:
    """A SQLite store whose batches fail when they commit (a full disk)."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    @contextmanager
    def poll_batch(self, owner: str | None = None) -> Iterator[Any]:
        with self.store.poll_batch(owner) as poll:
            yield poll
            raise StoreError("database or disk is full")


def test_a_batch_that_fails_to_commit_leaves_no_story_behind(tmp_path: Path) -> None:
    config = make_config(tmp_path, 2)
    build_app(config).close()
    store = open_store(config.monitor.database)
    assert isinstance(store, SqliteStore)
    try:
        polls = to_commit(config, store, [body(n, match=True) for n in range(2)])
        failing = committer(config, FailingCommit(store))
        results = failing.commit_polls(polls)
        assert all(isinstance(r, StoreError) for r in results)
        assert stored_sources(config) == set() and stories(config.monitor.database) == []
        # Within the batch the second match joined the first's story, which its index
        # learnt; the commit failed, so the index forgot it: the second poll, committed
        # now, opens the story (and alerts) instead of joining one that is not there.
        again = failing.commit(polls[1].name, polls[1].interval, polls[1].state,
                               polls[1].fetched, NOW, polls[1].body_hash, polls[1].items,
                               polls[1].new_items, polls[1].classified)
        assert again.matched == 1 and again.alerting
    finally:
        store.close()
    assert stories(config.monitor.database) == [(1, 1)]
