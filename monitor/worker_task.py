"""What a worker process does (monitor/workers.py runs them): its start-up, and its task.

A worker starts with its own store connection, classifiers and, when it commits polls, a
`PollCommitter` of its own (monitor/poll_commit.py: its story indexes keep up with what
the other processes commit). Its task is a fetched body: sifted (monitor/sift.py), then
the poll committed there, unless its articles are to be read (they are fetched in the
daemon's process, which then commits the poll): the answer is `Polled`, or `Sifted`.
Before it commits, the worker says so (COMMITTING): a worker stopped or dead past that
point leaves the poll's outcome unknown, not its body at fault. Several jobs may come in
one message (`sift_batch_in_worker`): each body is sifted on its own, then their polls are
committed together (on SQLite in one transaction, after one COMMITTING; on PostgreSQL one
by one, the worker saying COMMITTING again before a poll once it has been quiet a while).
"""

from __future__ import annotations

import gc
import pickle
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.reduction import ForkingPickler
from typing import Any

from monitor.article_plan import wanted
from monitor.classify import TopicClassifier, build_classifier
from monitor.config import TopicConfig
from monitor.errors import ParseError, StoreError
from monitor.parse.jobs import run_parse_job
from monitor.poll_commit import PollCommitter, PollToCommit
from monitor.ports import ItemKeys
from monitor.sift import sift
from monitor.store import open_store
from monitor.types import ArticleMode, Polled, PollSettings, Sifted, SiftJob

__all__ = ["COMMITTING", "SIFTED", "YOUNG_COLLECTION_EVERY", "Commits", "collect_young_less_often",
           "sift_batch_in_worker", "sift_in_worker", "start_worker", "tell_the_daemon_with"]

# A poll allocates thousands of short-lived objects (a first poll: 45 items parsed,
# classified, handed back and committed). Python collects its young generation every 700
# allocations of tracked objects by default; every 50,000, young cycles are still
# collected, a moment later. In a first cycle of 10,000 feeds the daemon spent 3% less CPU
# (benchmarks/poll.py, interleaved runs).
YOUNG_COLLECTION_EVERY = 50_000
# What a worker says once it has sifted a job and begins to commit its poll: a worker that
# hangs or dies past it leaves the poll's outcome unknown (it may be committed).
COMMITTING = "committing"
# What a worker says after a body of a batch it has sifted (but the last), once it has said
# nothing for a while (monitor/workers.py, QUIET_SECONDS): the daemon's timeout then bounds
# each body, not the batch.
SIFTED = "sifted"


@dataclass(frozen=True)
class Commits:
    """What the workers commit polls with (monitor/poll_commit.py): the daemon's settings."""

    settings: PollSettings
    subscribers: Mapping[str, tuple[str, ...]]    # topic -> its notifiers
    operators: Mapping[str, timedelta]            # operator notifier -> alert_after
    owner: str | None                             # the node whose leases the commits release
    articles: ArticleMode                         # [monitor] fetch_articles


class _Worker:
    """What one worker process sifts and commits with, built once when it starts."""

    keys: ItemKeys
    classifiers: dict[str, TopicClassifier]
    max_age: timedelta
    committer: PollCommitter | None = None
    articles: ArticleMode = "never"
    committing: Callable[[], None] = staticmethod(lambda: None)   # tells the daemon
    sifted: Callable[[], None] = staticmethod(lambda: None)       # tells the daemon


# The worker process's own sifter (set by `start_worker`, in the worker only).
_WORKER = _Worker()


def tell_the_daemon_with(committing: Callable[[], None], sifted: Callable[[], None]) -> None:
    """How this worker tells the daemon that it begins to commit a poll (COMMITTING), and
    that it has sifted a body of a batch (SIFTED)."""
    _WORKER.committing = committing
    _WORKER.sifted = sifted


def collect_young_less_often() -> None:
    """In this process, collect the young generation every YOUNG_COLLECTION_EVERY
    allocations (a higher threshold set before is kept)."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_COLLECTION_EVERY), middle, old)


def start_worker(database: str, topics: Sequence[TopicConfig], max_age: timedelta,
                 commits: Commits | None = None) -> None:
    """A worker's start-up: its store connection, classifiers and, with ``commits``, what
    it commits polls with."""
    collect_young_less_often()
    # A worker polls one job at a time (PostgreSQL): one connection to sift; to commit, a
    # second, for the reads made while the poll's transaction holds the first.
    store = open_store(database, connections=1 if commits is None else 2)
    _WORKER.keys = store
    _WORKER.classifiers = {topic.name: build_classifier(topic) for topic in topics}
    _WORKER.max_age = max_age
    if commits is not None:
        _WORKER.committer = PollCommitter(commits.settings, store, commits.subscribers,
                                          random.Random(), commits.operators, commits.owner,
                                          shared=True)
        _WORKER.articles = commits.articles


def sift_in_worker(job: SiftJob) -> Sifted | Polled:
    """A worker's task: sift one body with the worker's store connection and classifiers;
    with the job's tail, also commit the poll (Polled), unless its articles are to be
    read (they are fetched in the daemon's process: Sifted)."""
    sifted = _sifted(job)
    if isinstance(sifted, Sifted):
        return sifted
    committer = _WORKER.committer
    assert committer is not None   # a poll to commit comes only with a committer
    _WORKER.committing()
    return committer.commit_one(sifted)


def _sifted(job: SiftJob) -> Sifted | PollToCommit:
    """The job's body sifted: the poll to commit here, or (no committer, no tail, or its
    articles to be read in the daemon's process) the sifting as the answer."""
    sifted = sift(job, run_parse_job, _WORKER.keys, _WORKER.classifiers, _WORKER.max_age)
    tail = job.tail
    if _WORKER.committer is None or tail is None or _reads_articles(job, sifted):
        return sifted
    return PollToCommit(job.source, tail.interval, job.state, tail.fetched, job.now,
                        tail.body_hash, sifted.items, sifted.new_items, sifted.decisions)


def sift_batch_in_worker(messages: Sequence[bytes]) -> list[bytes]:
    """A worker's task for several jobs sent together (SiftWorkers' batches): each message
    a pickled (task, job) pair, each answered as the worker answers a job alone, (True,
    its result) or (False, the exception it raised), pickled on its own (an answer that
    does not pickle costs its job alone), in order. Each body is sifted on its own (its
    failure is its own; the worker may say SIFTED after each but the last, so that the
    daemon's timeout bounds one body); then the polls to commit are committed together
    (`PollCommitter.commit_polls`: on SQLite, in one transaction, after one COMMITTING; on
    PostgreSQL one after the other, the worker saying COMMITTING again before a poll once
    it has been quiet a while, so that the timeout bounds each poll's commit).
    A task other than `sift_in_worker` runs as it would alone."""
    answers: list[tuple[bool, Any] | None] = [None] * len(messages)
    polls: list[tuple[int, PollToCommit]] = []
    for index, message in enumerate(messages):
        if index:
            _WORKER.sifted()   # one more body done: the next has its own time
        try:
            task, job = pickle.loads(message)
            if task is not sift_in_worker:
                answers[index] = (True, task(job))
                continue
            sifted = _sifted(job)
            if isinstance(sifted, Sifted):
                answers[index] = (True, sifted)
            else:
                polls.append((index, sifted))
        except Exception as exc:  # noqa: BLE001 - this job's failure, for the daemon to judge
            answers[index] = (False, exc)
    committing = {index for index, _ in polls}
    if polls and _WORKER.committer is not None:
        _WORKER.committing()
        try:
            results: list[Polled | Exception] = _WORKER.committer.commit_polls(
                [poll for _, poll in polls], next_poll=_WORKER.committing)
        except Exception as exc:  # noqa: BLE001 - rolled back: none of them is committed
            results = [exc] * len(polls)
        for (index, _), result in zip(polls, results, strict=True):
            answers[index] = (False, result) if isinstance(result, Exception) else (True, result)
    return [_pickled(answer, index in committing) for index, answer in enumerate(answers)]


def _pickled(answer: tuple[bool, Any] | None, to_commit: bool) -> bytes:
    """One job's answer in a batch, pickled; one that does not pickle (an exception that
    carries what cannot be) becomes its job's failure: a ParseError, or a StoreError for
    a poll that was to be committed (its commit was not kept: a kept poll's answer always
    pickles)."""
    if answer is None:   # not reached: every job is answered
        answer = (False, ParseError("the job was not run"))
    try:
        return bytes(ForkingPickler.dumps(answer))
    except Exception as exc:  # noqa: BLE001 - this job's answer only
        kind = StoreError if to_commit else ParseError
        why = f"the worker's answer could not be sent: {exc}"
        return bytes(ForkingPickler.dumps((False, kind(why))))


def _reads_articles(job: SiftJob, sifted: Sifted) -> bool:
    """Whether the daemon would fetch articles of this poll (monitor/article_plan.py)."""
    if _WORKER.articles == "never" or not sifted.misses or job.tail is None:
        return False
    return bool(wanted(_WORKER.articles, job.tail.page, sifted.new_items, sifted.misses,
                       _WORKER.classifiers))
