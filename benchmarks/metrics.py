"""The cost of serving GET /metrics (Metrics.render) at 10,000 sources, with a filled store.

A SQLite file gets 10,000 source states of mixed health (most ok; some failing, gone,
silent, flooding, new) and deliveries in every state for a few notifiers, dead ones
included; the counters and histograms are fed as a day of polls and deliveries would feed
them. Then render() is timed over many scrapes, beside its two store reads (what health
decides on, of every source; the undelivered deliveries counted by notifier and state), the
SQL alone of each (the time the store's lock is held, when polls wait), and the body's size
is given. For reference: the whole reads `monitor status` and the page make (every
source's state, every undelivered delivery), and what `monitor status --check` reads of the
dead deliveries (a count and the oldest three). The observer's cost per poll outcome is
timed too.

    /work/main/.venv/bin/python benchmarks/metrics.py [--sources 10000] [--dead 1000]
        [--scrapes 50]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.commit import sync_sources  # noqa: E402
from monitor.decide import healths  # noqa: E402
from monitor.metrics import DELIVERY_STATES, Metrics  # noqa: E402
from monitor.store import SqliteStore  # noqa: E402
from monitor.store.sqlite import _SELECT_HEALTH_FACTS  # noqa: E402
from monitor.types import Digest, PollOutcome, SourceState, Story, StorySource  # noqa: E402

NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=15)
NOTIFIERS = ("desk-email", "ops-webhook", "chat", "local-file")
TOPICS = ("taliban-recognition", "ceasefire-talks", "sanctions")
CATEGORIES = ("recognition_granted", "recognition_step", "recognition_refused_or_debated", None)


def source_state(n: int, rng: random.Random) -> SourceState:
    """A polled source: 90% ok, 4% failing, 1% gone, 2% silent, 1% flooding (2% stay new)."""
    name, url = f"source-{n:05d}", f"https://host{n % 2500}.example/feed/{n}.xml"
    roll = rng.random()
    polled = NOW - timedelta(minutes=rng.randrange(15))
    base = SourceState(name, url, etag=f'"{n:x}-{rng.getrandbits(32):x}"',
                       last_modified="Thu, 03 Jul 2025 11:00:00 GMT", body_hash="ab" * 32,
                       first_polled_at=NOW - timedelta(days=40), last_fetch_at=polled,
                       last_success_at=polled, last_new_item_at=polled - timedelta(hours=2),
                       last_status="ok", next_poll_at=polled + INTERVAL, items_seen=1200,
                       last_items=40, last_new=2, new_per_poll=1.8)
    if roll < 0.05:
        gone = roll >= 0.04
        return SourceState(**{**base.__dict__, "last_status": "gone" if gone else "error",
                              "last_error": "FetchError: HTTP 503 Service Unavailable",
                              "last_error_at": polled, "last_error_kind": "fetch",
                              "failing_since": NOW - timedelta(hours=rng.randrange(1, 48)),
                              "consecutive_failures": rng.randrange(1, 30), "gone": gone})
    if roll < 0.07:
        return SourceState(**{**base.__dict__, "last_new_item_at": NOW - timedelta(days=9)})
    if roll < 0.08:
        return SourceState(**{**base.__dict__, "flooding_since": NOW - timedelta(hours=1),
                              "last_new": 400, "last_capped": 350})
    return base


def story(n: int) -> Story:
    return Story(id=n, topic=TOPICS[n % 3], title=f"Headline {n} about a recognition step",
                 url=f"https://news.example/{n}", published=NOW, category=CATEGORIES[n % 4],
                 score=0.9, actors=("Norway",), evidence="The sentence that decided.",
                 sources=(StorySource("source-00001", f"https://news.example/{n}",
                                      f"Headline {n}", NOW),),
                 summary="A lead of a few sentences. " * 8,
                 first_seen=NOW - timedelta(minutes=n % 90))


def fill(store: SqliteStore, sources: int, dead: int, rng: random.Random) -> None:
    names = [(f"source-{n:05d}", f"https://host{n % 2500}.example/feed/{n}.xml")
             for n in range(sources)]
    sync_sources(store, names, NOW)
    states = [source_state(n, rng) for n in range(sources)]
    store.record_states([s for s in states if rng.random() > 0.02])   # 2% never polled
    made = 0
    for status, count in (("pending", 40), ("failed", 40), ("dead", dead)):
        for _ in range(count):
            notifier = NOTIFIERS[made % len(NOTIFIERS)]
            digest = Digest(f"d{made}", notifier, NOW, tuple(story(made * 3 + k)
                                                             for k in range(3)))
            store.add_delivery(digest, NOW)
            if status == "failed":
                store.mark_failed(digest.id, "HTTP 502 Bad Gateway", NOW, NOW + INTERVAL)
            elif status == "dead":
                store.mark_dead(digest.id, "HTTP 400 Bad Request", NOW)
            made += 1


def feed_counters(metrics: Metrics, sources: int, rng: random.Random) -> float:
    """A day of work at a 15-minute interval; returns the seconds per poll_done call."""
    outcomes = [PollOutcome(f"source-{n:05d}",
                            rng.choice(("ok", "not_modified", "unchanged", "error")),
                            new=rng.randrange(3), fetch_seconds=rng.expovariate(3.0),
                            new_stories=((TOPICS[n % 3], CATEGORIES[n % 4]),) if n % 50 == 0
                            else ())
                for n in range(sources)]
    polls = 0
    started = time.perf_counter()
    for _ in range(96):
        for outcome in outcomes:
            metrics.poll_done(outcome)
            polls += 1
    per_poll = (time.perf_counter() - started) / polls
    for n in range(2000):
        digest = Digest(f"x{n}", NOTIFIERS[n % 4], NOW, (story(n),))
        metrics.delivery_attempted(digest, rng.choice(("ok", "ok", "failed", "dead")),
                                   NOW + timedelta(seconds=n % 600))
    metrics.cycle_done(NOW)
    return per_poll


def timed(action, scrapes: int) -> list[float]:  # noqa: ANN001 - any callable
    times = []
    for _ in range(scrapes):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(values) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--dead", type=int, default=1_000,
                        help="dead deliveries kept (they stay until retried)")
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(12)
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(str(Path(folder) / "m.db"))
        started = time.perf_counter()
        fill(store, args.sources, args.dead, rng)
        print(f"store: {args.sources} sources, {80 + args.dead} undelivered deliveries "
              f"({args.dead} dead), filled in {time.perf_counter() - started:.1f} s")
        intervals = {f"source-{n:05d}": INTERVAL for n in range(args.sources)}
        metrics = Metrics(store, intervals, NOTIFIERS, clock=lambda: NOW)
        per_poll = feed_counters(metrics, args.sources, rng)
        print(f"observer: {per_poll * 1e6:.1f} us per poll outcome (poll_done)")
        body, _type = metrics.render()
        series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        print(f"scrape body: {len(body):,} bytes, {series} samples")
        report_reads(store, metrics, intervals, args.scrapes)
        store.close()


def report_reads(store: SqliteStore, metrics: Metrics, intervals: dict[str, timedelta],
                 scrapes: int) -> None:
    def line(label: str, action) -> None:  # noqa: ANN001 - any callable
        print(f"{label:<38}{ms(timed(action, scrapes))}")

    line("render(), whole scrape:", metrics.render)
    line("  source_health_facts() read:", store.source_health_facts)
    line("    its SQL alone (lock held):", lambda: store._query(_SELECT_HEALTH_FACTS))
    line("  health verdicts (read included):",
         lambda: healths(intervals, store.source_health_facts(), NOW))
    line("  delivery_counts() read:", lambda: store.delivery_counts(DELIVERY_STATES))
    line("status --check, dead deliveries:", lambda: (
        store.delivery_counts(("dead",)), store.delivery_rows(("dead",), limit=3)))
    print("for reference, the whole reads (monitor status, the page):")
    line("  source_states() read:", store.source_states)
    line("  delivery_rows() read:", lambda: store.delivery_rows(DELIVERY_STATES))


if __name__ == "__main__":
    main()
