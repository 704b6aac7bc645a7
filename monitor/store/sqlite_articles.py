"""The article cache and the article read counts, on SQLite (tables of migration 6).

SQL and row mapping only; what to read and when a cached read is stale is decided in
monitor/article_plan.py. Called by SqliteStore with its connection, under its lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from monitor.store.codec import cached_article, hour_key, iso
from monitor.types import ArticleCounts, CachedArticle

_CHUNK = 500     # URLs per query: under SQLite's limit of bound parameters


def cached_articles(db: sqlite3.Connection, urls: Sequence[str]) -> dict[str, CachedArticle]:
    found: dict[str, CachedArticle] = {}
    unique = list(dict.fromkeys(urls))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start:start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for r in db.execute(f"SELECT url, fetched_at, text, error FROM articles "
                            f"WHERE url IN ({marks})", chunk):
            found[r["url"]] = cached_article(r)
    return found


def record_articles(db: sqlite3.Connection, articles: Sequence[CachedArticle],
                    counts: ArticleCounts, now: datetime) -> None:
    """Keep the articles read (a newer read replaces an older one) and add ``counts`` to
    the hour of ``now``."""
    db.executemany("INSERT OR REPLACE INTO articles (url, fetched_at, text, error) "
                   "VALUES (?, ?, ?, ?)",
                   [(a.url, iso(a.fetched_at), a.text, a.error) for a in articles])
    if counts.total:
        db.execute("INSERT INTO article_counts (hour, fetched, from_cache, failed, skipped) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (hour) DO UPDATE SET "
                   "fetched = fetched + excluded.fetched, "
                   "from_cache = from_cache + excluded.from_cache, "
                   "failed = failed + excluded.failed, skipped = skipped + excluded.skipped",
                   (hour_key(now), counts.fetched, counts.from_cache, counts.failed,
                    counts.skipped))


def article_counts(db: sqlite3.Connection, since: datetime) -> ArticleCounts:
    """The reads counted from the hour of ``since`` on."""
    row = db.execute("SELECT COALESCE(SUM(fetched), 0), COALESCE(SUM(from_cache), 0), "
                     "COALESCE(SUM(failed), 0), COALESCE(SUM(skipped), 0) "
                     "FROM article_counts WHERE hour >= ?", (hour_key(since),)).fetchone()
    return ArticleCounts(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def forget_articles(db: sqlite3.Connection, cutoff: datetime, limit: int) -> int:
    """Retention: up to ``limit`` articles read before ``cutoff``, and the counts of the
    hours before it. The number of articles deleted."""
    deleted = db.execute("DELETE FROM articles WHERE url IN (SELECT url FROM articles "
                         "WHERE fetched_at < ? LIMIT ?)", (iso(cutoff), limit)).rowcount
    db.execute("DELETE FROM article_counts WHERE hour < ?", (hour_key(cutoff),))
    return deleted
