"""`monitor db copy`: a SQLite database's every row into a PostgreSQL database, in one
transaction on the target, ids kept as they are.

Ids are kept, not remapped: the stories' ids are in the frozen digests of the deliveries
(their payload), the items' in the story memberships and the outbox; kept as they are, the
copy's rows mean what the source's meant. So nothing alerts again after the move (each
item's guid and URL, each story's outbox rows and each dedup key of retention come along)
and nothing pending is lost (pending and failed deliveries keep their id, attempts and next
attempt time, and the queued outbox rows their story).
"""

from __future__ import annotations

from pathlib import Path

from monitor.errors import StoreError
from monitor.store.postgres import PostgresStore
from monitor.store.sqlite import SqliteStore, acquire_daemon_lock
from monitor.urls import is_postgres_url, shown_database


def copy_database(source: str, target: str, replace: bool = False) -> dict[str, int]:
    """Copy the SQLite file ``source`` into the PostgreSQL database ``target`` (its schema
    created if needed); returns each table's row count. The source is locked as a daemon
    locks it, so no `monitor run` writes it meanwhile, and checked first: a damaged file is
    not copied. A target holding rows is refused unless ``replace``."""
    if is_postgres_url(source) or not Path(source).is_file():
        raise StoreError(f"--from {shown_database(source)}: not a SQLite database file")
    if not is_postgres_url(target):
        raise StoreError(f"--to {shown_database(target)}: not a postgresql:// URL")
    lock = acquire_daemon_lock(source)
    try:
        sqlite = SqliteStore(source)
        try:
            found = sqlite.check()
            if found.problems:
                raise StoreError(f"database {source} is not copied: "
                                 f"{'; '.join(found.problems)}")
            postgres = PostgresStore(target)
            try:
                return postgres.load(sqlite.dump(), dict(found.rows), replace)
            finally:
                postgres.close()
        finally:
            sqlite.close()
    finally:
        lock.close()
