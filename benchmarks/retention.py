"""Database size and a poll cycle's store time over a simulated year, with and without
retention.

Each simulated day, every source's poll is written through the store as the pipeline
writes it on SQLite (known_guids, items_by_canonical_url, forgotten_urls: what known_keys
reads there; then commit_poll), a few items a day open stories queued to a notifier, the
day's digest is made and delivered, and (with retention) a retention pass runs. The
clock is fake: a year takes a minute or so.

    /work/main/.venv/bin/python benchmarks/retention.py [--days 365] [--per-day 400]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.commit import commit_poll, sync_sources  # noqa: E402
from monitor.outbox import Outbox  # noqa: E402
from monitor.retention import plan_retention, run_retention  # noqa: E402
from monitor.store import SqliteStore  # noqa: E402
from monitor.types import (  # noqa: E402
    Classification,
    NewItem,
    ParsedItem,
    PollRecord,
    StoryDecision,
)
from monitor.urls import canonical_url  # noqa: E402

START = datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
SOURCES = 20
STORIES_PER_DAY = 5
SUMMARY = ("A paragraph of the kind feeds carry under a headline: who met whom, where, and "
           "what the ministry said about it afterwards, in two or three sentences. ") * 2
VERDICT = Classification(topic="t", match=True, score=0.9, category="recognition_step",
                         actors=("Norway",), evidence="The sentence that decided.",
                         rules=("step:credentials",))


def poll_day(store: SqliteStore, day: int, per_day: int, now: datetime) -> float:
    """Write one day of polls; returns the seconds the store took."""
    started = time.perf_counter()
    per_source = per_day // SOURCES
    for s in range(SOURCES):
        name = f"source-{s}"
        # A feed serves its newest 50 items: today's and the ones already seen.
        items = [ParsedItem(guid=f"{name}-{day}-{i}", url=f"https://s{s}.example/{day}/{i}",
                            title=f"Headline {day}/{i} of {name}", summary=SUMMARY,
                            published=now)
                 for i in range(per_source)]
        served = items + [ParsedItem(guid=f"{name}-{day - 1}-{i}",
                                     url=f"https://s{s}.example/{day - 1}/{i}",
                                     title="Yesterday's headline", summary=SUMMARY)
                          for i in range(min(per_source, 50 - per_source))]
        known = store.known_guids(name, [i.guid for i in served])
        fresh = [i for i in served if i.guid not in known]
        urls = [canonical_url(i.url) for i in fresh]
        found = store.items_by_canonical_url(urls)
        store.forgotten_urls([u for u in urls if u not in found])
        new = tuple(NewItem(i, canonical_url(i.url)) for i in fresh)
        stories = tuple(StoryDecision(index, "t", VERDICT) for index in range(len(new))
                        if s < STORIES_PER_DAY and index == 0)
        record = PollRecord(store.source_state(name), new, stories)
        commit_poll(store, record, {"t": ["mail"]}, now)
    return time.perf_counter() - started


def deliver_day(store: SqliteStore, day: int, now: datetime) -> None:
    digest = Outbox(store).claim("mail", now, f"digest-{day}")
    if digest is not None:
        store.mark_sending(digest.id, now)
        store.mark_delivered(digest.id, now)


def simulate(days: int, per_day: int, retention: timedelta | None, folder: Path) -> None:
    path = folder / f"year-{'retention' if retention else 'none'}.db"
    store = SqliteStore(str(path))
    sync_sources(store, [(f"source-{s}", f"https://s{s}.example/rss") for s in range(SOURCES)],
                 START)
    label = f"retention {retention.days}d" if retention else "no retention"
    print(f"\n{label}: {SOURCES} sources, {per_day} new items a day")
    print(f"{'day':>5} {'size MB':>8} {'items':>8} {'keys':>8} {'cycle ms':>9} "
          f"{'retention ms':>13}")
    checkpoints = {30, 60, 90, 120, 180, 240, 300, days}
    for day in range(1, days + 1):
        now = START + timedelta(days=day)
        cycle = poll_day(store, day, per_day, now)
        deliver_day(store, day, now + timedelta(hours=1))
        started = time.perf_counter()
        run_retention(store, plan_retention(retention, now), pause=0)
        retained = time.perf_counter() - started
        if day in checkpoints:
            store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            info = store.database_info()
            print(f"{day:>5} {info.size / 2**20:>8.1f} {info.items:>8} {info.kept_keys:>8} "
                  f"{cycle * 1000:>9.0f} {retained * 1000:>13.0f}")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="retention-bench-") as folder:
        simulate(args.days, args.per_day, None, Path(folder))
        simulate(args.days, args.per_day, timedelta(days=90), Path(folder))


if __name__ == "__main__":
    main()
