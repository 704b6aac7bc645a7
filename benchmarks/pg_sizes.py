"""What a PostgreSQL database of news-monitor holds: rows, table and index bytes, per row.

    python benchmarks/poll.py --feeds 10000 --latency 0 --cycles 1 --no-baseline \\
        --database postgresql://postgres@127.0.0.1:5432/postgres --keep
    python benchmarks/pg_sizes.py postgresql://postgres@127.0.0.1:5432/monitor_bench_...

For each table of the schema: its rows (an exact COUNT), the bytes of its heap (with its
TOAST and free-space maps: ``pg_table_size``), of its indexes (``pg_indexes_size``) and
both (``pg_total_relation_size``), and those bytes per row. Then the figures a plan needs:
bytes per source, per item (the items table and its indexes, plus its share of
story_items), per story, per outbox row and delivery; the whole database
(``pg_database_size``); and the server's ``max_connections`` against what a node opens.
Sizes right after a bulk load: no dead rows yet, so a database that has lived a while
(updates of the sources' states, deletions by retention) is larger until vacuumed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TABLES = ("sources", "items", "stories", "story_items", "outbox", "deliveries",
          "seen_keys", "events", "event_reports", "health_incidents", "health_alerts",
          "articles", "article_counts", "nodes")


def node_connections(max_concurrency: int, workers: int) -> int:
    """PURE: the connections one `monitor run` node opens at most on PostgreSQL: its pool
    (monitor.app.store_connections), two per worker process (monitor/workers.py: its pool,
    to sift and to commit, the record lock taken on the poll's transaction), and the
    session of its own for the singletons' locks (monitor/store/postgres_nodes.py)."""
    return min(max_concurrency, 32) + 4 + 2 * workers + 1


def main(argv: list[str] | None = None) -> int:
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database", help="postgresql:// URL of a news-monitor database")
    args = parser.parse_args(argv)
    with psycopg.connect(args.database, autocommit=True) as db:
        db.execute("ANALYZE")
        sizes: dict[str, tuple[int, int, int]] = {}
        print("| table | rows | heap (+TOAST) | indexes | bytes per row (heap + indexes) |\n"
              "| --- | --- | --- | --- | --- |")
        for table in TABLES:
            row = db.execute(f"SELECT COUNT(*), pg_table_size('{table}'), "
                             f"pg_indexes_size('{table}') FROM {table}").fetchone()
            assert row is not None
            rows, heap, indexes = int(row[0]), int(row[1]), int(row[2])
            sizes[table] = (rows, heap, indexes)
            per = f"{heap / rows:.0f} + {indexes / rows:.0f}" if rows else "-"
            print(f"| {table} | {rows:,} | {mb(heap)} | {mb(indexes)} | {per} |")
        total = db.execute("SELECT pg_database_size(current_database())").fetchone()
        settings = db.execute("SELECT current_setting('max_connections'), "
                              "current_setting('superuser_reserved_connections')").fetchone()
    assert total is not None and settings is not None
    print()
    for label, tables, unit in (("source", ("sources",), "sources"),
                                ("item", ("items", "story_items"), "items"),
                                ("story", ("stories", "events", "event_reports"), "stories"),
                                ("delivery", ("outbox", "deliveries"), "deliveries")):
        count = sizes[unit][0]
        bytes_ = sum(sizes[t][1] + sizes[t][2] for t in tables)
        if count:
            print(f"per {label} ({' + '.join(tables)}, {count:,} {unit}): "
                  f"{bytes_ / count:,.0f} bytes")
    print(f"database: {mb(int(total[0]))} in all")
    connections = node_connections(32, 2)
    print(f"server: max_connections {settings[0]} ({settings[1]} reserved for superusers); "
          f"a node at the default max_concurrency (32) with 2 workers opens up to "
          f"{connections}, 2 more per further worker")
    return 0


def mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


if __name__ == "__main__":
    sys.exit(main())
