"""What one worker process spends on a job: the first polls of farm feeds sifted and
committed in this one process, as a worker does them (`sift_in_worker`), without the
fetch, the hand-off or another process on the machine.

A first cycle of benchmarks/poll.py is bound by the CPU of its workers on a 2-core
machine, and its figures move with the machine's load and with the other processes: one
process, one job after another, gives a steadier figure of the worker's own cost. Each
run prints the CPU per job (user and system), and with --profile the functions that took
most of it (cProfile, which slows the run; its figures are for ranking only). With
--database, that is the client's CPU alone: the server's shows in benchmarks/poll.py
--stages. Two copies run at once, each pinned to a core (taskset -c), compare two versions
on a machine whose speed moves.

    python benchmarks/worker_job.py --feeds 2000
    python benchmarks/worker_job.py --feeds 2000 --profile
    python benchmarks/worker_job.py --feeds 2000 --database postgresql://postgres@127.0.0.1/postgres
    python benchmarks/worker_job.py --feeds 3000 --batch 8 --other-writer

--batch K sends the jobs K at a time (`sift_batch_in_worker`: sifted one by one, then
their polls committed in one transaction), as SiftWorkers sends the polls waiting for a
worker on SQLite; --other-writer has another connection commit after each commit, as the
other workers do in a run.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import random
import resource
import sqlite3
import sys
import tempfile
import time
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.poll import feed_url, make_feed, scratch_database  # noqa: E402
from monitor.app import build_app, operators, poll_settings, subscribers  # noqa: E402
from monitor.classify import gazetteer  # noqa: E402
from monitor.config import load_config_data  # noqa: E402
from monitor.types import FetchResult, ParseJob, Polled, PollTail, SiftJob  # noqa: E402
from monitor.worker_task import (  # noqa: E402
    Commits,
    sift_batch_in_worker,
    sift_in_worker,
    start_worker,
)


def cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--database", metavar="URL", default=None,
                        help="a PostgreSQL server's URL (a scratch database is made on it)")
    parser.add_argument("--articles", default="never", choices=("never", "candidates", "all"),
                        help="[monitor] fetch_articles (with a poll's articles to read, the "
                             "worker leaves its commit to the daemon, as in a run)")
    parser.add_argument("--batch", type=int, default=1, metavar="K",
                        help="send the jobs K at a time, as SiftWorkers batches the polls "
                             "waiting for a worker (their commits share a transaction)")
    parser.add_argument("--other-writer", action="store_true",
                        help="SQLite: another connection commits a row after each commit, "
                             "as the other workers do in a run (it empties this one's "
                             "page cache)")
    parser.add_argument("--profile", action="store_true", help="rank functions by CPU")
    args = parser.parse_args()
    rng = random.Random(1)
    now = time.time()
    bodies = [make_feed(i, rng, now) for i in range(args.feeds)]
    with tempfile.TemporaryDirectory() as tmp, \
            scratch_database(args.database, tmp) as database:
        config = load_config_data({
            "monitor": {"database": database, "workers": 1, "fetch_articles": args.articles},
            "topics": [{"name": "taliban-recognition", "event": "recognition"}],
            "sources": [{"name": f"feed {i}", "url": feed_url(i, 250)}
                        for i in range(args.feeds)],
            "notifiers": [{"name": "file", "type": "file", "path": f"{tmp}/digests.log"}]})
        app = build_app(config)    # the schema, the sources
        try:
            states = {s.name: app.store.source_state(s.name) for s in config.sources}
            clock = app.clock()
        finally:
            app.close()
        m = config.monitor
        gazetteer.entries()   # compiled once, before the jobs, as the fork server does
        start_worker(database, config.topics, m.max_age, Commits(
            poll_settings(config), {t: tuple(n) for t, n in subscribers(config).items()},
            operators(config), None, m.fetch_articles))
        jobs = []
        for source, body in zip(config.sources, bodies, strict=True):
            fetched = FetchResult(source.url, 200, None, etag='"x"',
                                  headers={"content-type": "application/rss+xml"})
            parse = ParseJob("feed", body, source.url, "application/rss+xml")
            tail = PollTail(m.poll_interval, False, fetched,
                            hashlib.sha256(body).hexdigest())
            jobs.append(SiftJob(source.name, parse, states[source.name], clock, tail))
        other = None
        if args.other_writer and args.database is None:
            other = sqlite3.connect(database, isolation_level=None)
            other.execute("CREATE TABLE other_writer (n INTEGER)")
        messages = [bytes(ForkingPickler.dumps((sift_in_worker, job))) for job in jobs]
        profile = cProfile.Profile() if args.profile else None
        user, system = cpu()
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        answers = []
        for start in range(0, len(messages), args.batch):
            group = messages[start:start + args.batch]
            if len(group) == 1:
                answers.append(sift_in_worker(ForkingPickler.loads(group[0])[1]))
            else:
                answers.extend(ForkingPickler.loads(answer)[1]
                               for answer in sift_batch_in_worker(group))
            if other is not None:
                other.execute("INSERT INTO other_writer VALUES (?)", (start,))
        if profile is not None:
            profile.disable()
        wall = time.perf_counter() - started
        user, system = (a - b for a, b in zip(cpu(), (user, system), strict=True))
        n = len(jobs)
        items = sum(answer.items for answer in answers)
        committed = sum(isinstance(answer, Polled) for answer in answers)
        print(f"{n} first polls ({committed} committed), {items} items: wall {wall:.2f} s, cpu "
              f"{(user + system) * 1e3 / n:.3f} ms/job (user {user * 1e3 / n:.3f}, system "
              f"{system * 1e3 / n:.3f})")
        if profile is not None:
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
