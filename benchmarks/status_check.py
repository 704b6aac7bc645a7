"""What `monitor status` pays to check that the whole database reads (PRAGMA quick_check).

Builds a SQLite database of N items (titles, summaries and URLs of realistic length, as a
poll stores them) through the real store, then times `SqliteStore.check_readable()` on a
warm and on a cold page cache (the file's pages dropped from the OS cache where allowed).

    python benchmarks/status_check.py [--items 200000 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.store import SqliteStore  # noqa: E402

WORDS = ("envoy ministry harbour council tariff border talks delegation statement summit "
         "credentials embassy parliament budget drought grain convoy").split()


def build(path: Path, items: int, seed: int = 7) -> None:
    SqliteStore(str(path)).close()           # the schema, by the real migrations
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("INSERT INTO sources (name, config_url, url) VALUES ('s', 'u', 'u')")
    rows = []
    for n in range(items):
        title = " ".join(rng.choices(WORDS, k=12)).capitalize()
        summary = " ".join(rng.choices(WORDS, k=45))
        url = f"https://news{n % 250}.example/world/2025/{n}-{title[:30].replace(' ', '-')}"
        rows.append((f"s{n % 1000}", f"guid-{n}", url, url, title, summary,
                     "2025-07-03T12:00:00+00:00", "2025-07-03T12:00:00+00:00", 0))
        if len(rows) == 50_000:
            db.executemany("INSERT INTO items (source, guid, url, canonical_url, title, "
                           "summary, published, first_seen, alert) VALUES "
                           "(?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            rows.clear()
    db.executemany("INSERT INTO items (source, guid, url, canonical_url, title, summary, "
                   "published, first_seen, alert) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def drop_cache(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        return True
    except (AttributeError, OSError):
        return False


def timed_check(path: Path) -> float:
    store = SqliteStore(str(path))
    try:
        started = time.perf_counter()
        store.check_readable()
        return time.perf_counter() - started
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--keep", help="build the databases in this folder and keep them")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="status-check-"))
    folder.mkdir(parents=True, exist_ok=True)
    print("items      file size   quick_check warm   quick_check cold")
    for items in args.items:
        path = folder / f"monitor-{items}.db"
        if not path.exists():
            build(path, items)
        warm = min(timed_check(path) for _ in range(3))
        cold = timed_check(path) if drop_cache(path) else float("nan")
        print(f"{items:>9,}  {path.stat().st_size / 1e6:>7.0f} MB  {warm:>14.2f} s  "
              f"{cold:>16.2f} s")
        if not args.keep:
            for leftover in folder.glob(f"{path.name}*"):
                leftover.unlink()
    if not args.keep:
        folder.rmdir()


if __name__ == "__main__":
    main()
