"""Storage behind an interface: the pipeline talks to a Store, SQLite is one backend."""

from monitor.store.base import Store
from monitor.store.sqlite import SqliteStore, acquire_daemon_lock

__all__ = ["SqliteStore", "Store", "acquire_daemon_lock", "open_store"]


def open_store(database: str) -> Store:
    """Open (creating and migrating if needed) the database named in the config."""
    return SqliteStore(database)
