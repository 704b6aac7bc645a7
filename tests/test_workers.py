"""Parsing in worker processes: same result as in-process; a hang or a crash is contained."""

from __future__ import annotations

import os
import time

import pytest

from monitor.errors import ParseError
from monitor.parse.jobs import run_parse_job
from monitor.types import ParseJob
from monitor.workers import ParseWorkers

FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
        b"<item><title>Envoy presents credentials</title><link>https://desk.example/1</link>"
        b"<guid>1</guid></item></channel></rss>")


def hang(job: ParseJob) -> None:
    time.sleep(60)


def crash(job: ParseJob) -> None:
    os._exit(3)


def test_worker_result_equals_in_process() -> None:
    workers = ParseWorkers(2, timeout=60)
    try:
        job = ParseJob("feed", FEED, "https://desk.example/rss", "application/rss+xml")
        assert workers(job) == run_parse_job(job)
        with pytest.raises(ParseError, match="not a feed|malformed"):
            workers(ParseJob("feed", b"<html><body>no feed</body></html>", "https://x.example/"))
    finally:
        workers.close()


@pytest.mark.parametrize("target, message", [(hang, "took longer than"), (crash, "died")])
def test_hang_or_crash_is_a_parse_error_and_the_pool_recovers(target, message: str) -> None:
    broken = ParseWorkers(1, timeout=2, target=target)
    try:
        with pytest.raises(ParseError, match=message):
            broken(ParseJob("feed", FEED, "https://desk.example/rss"))
        broken.target = run_parse_job  # the renewed pool works again
        assert broken(ParseJob("feed", FEED, "https://desk.example/rss")).items
    finally:
        broken.close()


def slow_or_hang(job: ParseJob):
    if job.url.endswith("/hang"):
        time.sleep(60)
    time.sleep(0.3)
    return run_parse_job(job)


def test_a_hang_does_not_fail_the_other_jobs() -> None:
    from concurrent.futures import ThreadPoolExecutor

    workers = ParseWorkers(2, timeout=2, target=slow_or_hang)
    jobs = [ParseJob("feed", FEED, "https://desk.example/hang")] + [
        ParseJob("feed", FEED, f"https://desk.example/{i}") for i in range(5)]
    try:
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(workers, job) for job in jobs]
            with pytest.raises(ParseError, match="took longer"):
                futures[0].result()
            assert all(f.result().items for f in futures[1:])
    finally:
        workers.close()
