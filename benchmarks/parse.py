"""Parse-stage throughput over the real fixture feeds (../shared/fixtures/feeds/real/).

    /work/venv/bin/python benchmarks/parse.py [--rounds N]
    /work/venv/bin/python benchmarks/parse.py --farm [--feeds N] [--rounds N]

Prints entries/s and ms per feed for: raw feedparser, raw fastfeedparser (if installed),
monitor.parse.parse_feed (the stage as the pipeline calls it) and, when present, the
stage's fast path alone. Same bytes for every parser; figures, not assertions.

--farm reads the poll benchmark's feeds instead (benchmarks/poll.py make_feed(i,
random.Random(1)): 30-60 items with ~200-character descriptions, served as
application/rss+xml) and prints ms of CPU per farm feed for the same parsers.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.errors import ParseError  # noqa: E402
from monitor.parse import parse_feed  # noqa: E402

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "feeds" / "real"
URL = "https://bench.example.org/feed.xml"


def load_farm_feeds(count: int) -> list[bytes]:
    import random

    from benchmarks.poll import make_feed

    rng = random.Random(1)
    return [make_feed(i, rng) for i in range(count)]


def load_feeds() -> list[bytes]:
    if not REAL.is_dir():
        sys.exit(f"fixtures not found: {REAL}")
    return [p.read_bytes() for p in sorted(REAL.rglob("*")) if p.is_file()
            and p.suffix != ".json"]


def run(name: str, parse: Callable[[bytes], int], feeds: list[bytes], rounds: int) -> None:
    try:  # warm up: imports, lazy tables
        parse(feeds[0])
    except ParseError:
        pass
    entries = failures = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    for _ in range(rounds):
        for body in feeds:
            try:
                entries += parse(body)
            except ParseError:
                failures += 1
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    feeds_done = len(feeds) * rounds
    print(f"{name:<36} {entries / wall:>9,.0f} entries/s wall {entries / cpu:>9,.0f} /cpu-s  "
          f"{1000 * cpu / feeds_done:>7.2f} cpu-ms/feed  entries {entries:>6}  "
          f"declined/errors {failures}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--farm", action="store_true",
                        help="the poll benchmark's farm feeds instead of the real fixtures")
    parser.add_argument("--feeds", type=int, default=200, help="farm feeds (with --farm)")
    args = parser.parse_args()
    feeds = load_farm_feeds(args.feeds) if args.farm else load_feeds()
    content_type = "application/rss+xml" if args.farm else None
    label = "farm feeds" if args.farm else "real fixture feeds"
    print(f"{len(feeds)} {label}, {sum(map(len, feeds)) / 1e6:.1f} MB, {args.rounds} rounds")

    run("feedparser (raw)", lambda b: len(feedparser.parse(io.BytesIO(b)).entries),
        feeds, args.rounds)
    try:
        import fastfeedparser
    except ImportError:
        fastfeedparser = None
    if fastfeedparser is not None:
        def fast_raw(body: bytes) -> int:
            try:
                return len(fastfeedparser.parse(body).entries)
            except Exception:  # it raises on what it cannot read; count as a failure
                raise ParseError("fastfeedparser failed") from None
        run("fastfeedparser (raw)", fast_raw, feeds, args.rounds)

    try:
        from monitor.parse import fast
    except ImportError:
        fast = None
    if fast is not None:
        def fast_only(body: bytes) -> int:
            result = fast.parse_fast(body, URL, content_type)
            if result is None:
                raise ParseError("declined")
            return len(result.items)
        run("monitor fast path alone (lxml)", fast_only, feeds, args.rounds)
        run("monitor parse_feed, feedparser only",
            lambda b: len(parse_feed(b, URL, content_type, fast_path=False).items),
            feeds, args.rounds)
    run("monitor parse_feed (as used)", lambda b: len(parse_feed(b, URL, content_type).items),
        feeds, args.rounds)


if __name__ == "__main__":
    main()
