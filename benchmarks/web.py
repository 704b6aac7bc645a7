"""What the HTTP face costs: the status page and the API served from a filled store, at
1,000 and 10,000 sources.

Fills a SQLite store through the store's own methods (as polls would): N sources (5% of
them failing), ITEMS items each, STORIES stories of the last days (every third reported by
a second outlet), and their digests to a webhook (most delivered, some failed, some dead).
Then serves it with the real application on the real server (uvicorn on a loopback port,
as `monitor run` does) and times each page with a client on the same machine: the median
and the 90th percentile over REQUESTS requests, and the size of the answer. A full PollLog
(RECENT_POLLS polls of each source) is measured too: the memory the source pages' latest
polls take in the daemon.

    python benchmarks/web.py [--sources 1000 10000] [--requests 20] [--items 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.commit import commit_poll, sync_sources  # noqa: E402
from monitor.config import Config, HttpSettings, load_config_data  # noqa: E402
from monitor.decide import after_failure, after_success  # noqa: E402
from monitor.liveness import RECENT_POLLS, PollLog  # noqa: E402
from monitor.outbox import Outbox  # noqa: E402
from monitor.store import SqliteStore  # noqa: E402
from monitor.types import (  # noqa: E402
    Classification,
    NewItem,
    ParsedItem,
    PollOutcome,
    PollRecord,
    StoryDecision,
)
from monitor.web.app import create_app  # noqa: E402
from monitor.web.context import Web  # noqa: E402
from monitor.web.server import WebServer  # noqa: E402

TOPIC = "taliban-recognition"
WORDS = ("envoy ministry harbour council tariff border talks delegation statement summit "
         "credentials embassy parliament budget drought grain convoy").split()
PAGES = ("/", "/?sources=all", "/sources/source-00042", "/api/v1/sources",
         "/api/v1/stories", "/api/v1/deliveries")


def name(n: int) -> str:
    return f"source-{n:05d}"


def config_of(sources: int) -> Config:
    return load_config_data({
        "topics": [{"name": TOPIC, "event": "recognition"}],
        "sources": [{"name": name(n), "url": f"https://news{n % 250}.example/feed/{n}.xml"}
                    for n in range(sources)],
        "notifiers": [{"name": "hook", "type": "webhook", "url": "https://hook.example/"}]})


def fill(store: SqliteStore, config: Config, items: int, stories: int, now: datetime) -> None:
    sync_sources(store, ((s.name, s.url) for s in config.sources), now - timedelta(days=8))
    verdict = Classification(topic=TOPIC, match=True, score=0.9, category="recognition_step",
                             actors=("Kazakhstan",), evidence="Astana accepted the envoy.")
    opened: list[int] = []
    for n, source in enumerate(config.sources):
        when = now - timedelta(seconds=(n * 7) % 900)    # each polled in its 15 minutes
        state = store.source_state(source.name)
        new = tuple(NewItem(ParsedItem(
            guid=f"{n}-{k}", url=f"https://news{n % 250}.example/world/{n}-{k}",
            title=" ".join(WORDS[(n + k + j) % len(WORDS)] for j in range(10)).capitalize(),
            summary=" ".join(WORDS[(n * k + j) % len(WORDS)] for j in range(40))),
            f"https://news{n % 250}.example/world/{n}-{k}") for k in range(items))
        decisions: tuple[StoryDecision, ...] = ()
        if n < stories:
            decisions = (StoryDecision(0, TOPIC, verdict),)
        elif n < stories + stories // 3 and opened:     # a second outlet of a story
            decisions = (StoryDecision(0, TOPIC, verdict, story_id=opened[n - stories]),)
        state = (after_failure(state, when, error="FetchError: HTTP 503 Service Unavailable",
                               interval=timedelta(minutes=15), max_backoff=timedelta(hours=6),
                               jitter=0.5) if n % 20 == 7 else
                 after_success(state, when, status="ok", interval=timedelta(minutes=15),
                               jitter=0.5, items=items, new=items))
        commit_poll(store, PollRecord(state, new, decisions), {TOPIC: ["hook"]}, when)
        if n < stories:
            opened.append(len(opened) + 1)
            if n % 10 == 9:
                _deliver(store, n // 10, when)


def _deliver(store: SqliteStore, number: int, when: datetime) -> None:
    digest = Outbox(store).claim("hook", when, f"digest-{number:04d}")
    if digest is None:
        return
    store.mark_sending(digest.id, when)
    if number % 7 == 3:
        store.mark_dead(digest.id, "webhook https://hook.example/: HTTP 400", when)
    elif number % 7 == 5:
        store.mark_failed(digest.id, "webhook https://hook.example/: timed out after 15s",
                          when, when + timedelta(minutes=1))
    else:
        store.mark_delivered(digest.id, when)


def time_pages(base: str, count: int) -> list[tuple[str, float, float, int]]:
    """(path, median ms, p90 ms, bytes) for each page."""
    results = []
    with requests.Session() as session:
        for path in PAGES:
            session.get(base + path, timeout=120).raise_for_status()      # warm
            took, size = [], 0
            for _ in range(count):
                start = time.perf_counter()
                answer = session.get(base + path, timeout=120)
                took.append((time.perf_counter() - start) * 1000)
                answer.raise_for_status()
                size = len(answer.content)
            took.sort()
            results.append((path, statistics.median(took),
                            took[min(len(took) - 1, int(len(took) * 0.9))], size))
    return results


def poll_log_memory(sources: int) -> float:
    """MB a full PollLog takes (the source names, held by the config anyway, not counted)."""
    now = datetime.now(UTC)
    names = [name(n) for n in range(sources)]
    tracemalloc.start()
    log = PollLog()
    for p in range(RECENT_POLLS + 1):
        for n in range(sources):
            log.record(now + timedelta(seconds=p), PollOutcome(
                names[n], "ok", items=30, new=p % 3, duration=0.2 + p / 7 + n / 1e6))
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size / 1e6


def run(sources: int, args: argparse.Namespace, folder: Path) -> None:
    now = datetime.now(UTC)
    config = config_of(sources)
    store = SqliteStore(str(folder / f"web-{sources}.db"))
    started = time.perf_counter()
    fill(store, config, args.items, min(args.stories, sources // 2), now)
    filled = time.perf_counter() - started
    web = Web(config, store, lambda: datetime.now(UTC))
    server = WebServer(create_app(web, HttpSettings()), "127.0.0.1", 0)
    server.start()
    try:
        print(f"\n{sources:,} sources, {sources * args.items:,} items, "
              f"{min(args.stories, sources // 2)} stories (filled in {filled:.0f} s); "
              f"{args.requests} requests per page")
        print(f"  {'page':<24} {'median':>9} {'p90':>9} {'size':>9}")
        for path, median, p90, size in time_pages(server.url.rstrip("/"), args.requests):
            print(f"  {path:<24} {median:7.1f}ms {p90:7.1f}ms {size / 1024:7.0f}KB")
        print(f"  latest polls kept for the source pages ({RECENT_POLLS} per source): "
              f"{poll_log_memory(sources):.1f} MB")
    finally:
        server.stop()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--items", type=int, default=10, help="items per source")
    parser.add_argument("--stories", type=int, default=300,
                        help="stories (at most half the sources open one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="web-bench-") as folder:
        for sources in args.sources:
            run(sources, args, Path(folder))


if __name__ == "__main__":
    main()
