"""Storage behind an interface: the pipeline talks to a Store; SQLite (a file, the default)
and PostgreSQL (a server several processes share) are its backends. `open_store` chooses
one from ``[monitor] database``: nothing else knows which it is."""

from __future__ import annotations

from typing import Protocol

from monitor.store.base import Store
from monitor.store.sqlite import SqliteStore, acquire_daemon_lock
from monitor.urls import is_postgres_url

__all__ = ["Held", "SqliteStore", "Store", "acquire_daemon_lock", "hold_database",
           "is_postgres_url", "open_store"]


def open_store(database: str, connections: int = 4) -> Store:
    """Open (creating and migrating if needed) the database named in the config: a
    ``postgresql://`` URL (with a pool of up to ``connections`` connections), else a
    SQLite file (one connection)."""
    if is_postgres_url(database):
        from monitor.store.postgres import PostgresStore  # psycopg only when it is used

        return PostgresStore(database, pool_size=connections)
    return SqliteStore(database)


class Held(Protocol):
    """What `hold_database` holds until closed."""

    def close(self) -> None: ...


class _Shared:
    def close(self) -> None:
        pass


def hold_database(database: str) -> Held:
    """What a `monitor run` or `monitor once` holds while it writes: for SQLite the daemon
    lock (two daemons on one file are refused); for PostgreSQL nothing, since several
    processes may share one database."""
    if is_postgres_url(database):
        return _Shared()
    return acquire_daemon_lock(database)
