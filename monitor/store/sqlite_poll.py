"""The SQLite side of a poll's commit: write the items, read what the planners need, apply
their intents (monitor/intents.py). SQL and row mapping only: the decisions are
monitor/plan.py's, and monitor/commit.py runs the steps inside one transaction.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from monitor.events import KnownEvent
from monitor.intents import (
    CloseIncident,
    FollowEvent,
    Intent,
    JoinStory,
    LinkCopy,
    MarkAlerted,
    Opened,
    OpenEvent,
    OpenIncident,
    OpenStory,
    PendingStory,
    QueueDigest,
    QueueStory,
    RecordHealthAlert,
    SetNovelty,
    StoryRef,
    StoryState,
    SupersedeEvent,
    WidenActors,
)
from monitor.store.codec import (
    digest_to_json,
    event_to_json,
    iso,
    known_event,
    pending_story,
)
from monitor.types import Digest, EventKind, NewItem, SourceState

_INSERT_ITEM = ("INSERT INTO items (source, guid, url, canonical_url, title, summary, "
                "published, first_seen, alert) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (source, guid) DO NOTHING")
_ITEM_COLUMNS = 9
_ROWS_PER_INSERT = 500        # 4,500 parameters: well under SQLite's limit (32,766)


@functools.lru_cache(maxsize=64)
def _insert_items(rows: int) -> str:
    """_INSERT_ITEM for ``rows`` rows in one statement."""
    head, _, tail = _INSERT_ITEM.partition(" VALUES ")
    values, _, conflict = tail.partition(" ON CONFLICT")
    return f"{head} VALUES {', '.join([values] * rows)} ON CONFLICT{conflict}"


def insert_delivery(db: sqlite3.Connection, digest: Digest, now: datetime) -> None:
    """A pending delivery of ``digest``, its payload frozen."""
    db.execute("INSERT INTO deliveries (id, notifier, kind, created_at, status, "
               "next_attempt_at, payload) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
               (digest.id, digest.notifier, digest.kind, iso(now), iso(now),
                json.dumps(digest_to_json(digest))))


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value)


def insert_event(db: sqlite3.Connection, entry: KnownEvent, story_id: int | None) -> None:
    """A ledger entry, unless its (state, kind) has one already."""
    db.execute("INSERT OR IGNORE INTO events (state, kind, title, url, first_seen, story_id, "
               "origin, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (entry.state, entry.kind, entry.title, entry.url, iso(entry.seen), story_id,
                entry.origin, entry.source))


def supersede_event(db: sqlite3.Connection, entry: KnownEvent) -> None:
    """``entry`` takes the place of the ledger's entry of its (state, kind), whose first
    report becomes a later report of it."""
    key = (entry.state, entry.kind)
    db.execute("INSERT OR IGNORE INTO event_reports (event_id, story_id, title, url, "
               "first_seen) SELECT id, story_id, title, url, first_seen FROM events "
               "WHERE state = ? AND kind = ?", key)
    db.execute("UPDATE events SET title = ?, url = ?, first_seen = ?, story_id = NULL, "
               "origin = ?, source = ? WHERE state = ? AND kind = ?",
               (entry.title, entry.url, iso(entry.seen), entry.origin, entry.source, *key))


class SqlitePollWriter:
    """One poll's commit on an open SQLite transaction (see monitor.store.base.PollWriter)."""

    def __init__(self, db: sqlite3.Connection,
                 write_state: Callable[[SourceState], None]) -> None:
        self._db = db
        self.write_state = write_state   # the source's state after the poll
        self._item_ids: dict[int, int] = {}    # new_items index -> row id (0: not inserted)

    def lock_records(self) -> None:
        """Nothing more to take: this transaction holds the database's one write lock."""

    def insert_items(self, source: str, new_items: Sequence[NewItem], linked: Iterable[int],
                     now: datetime) -> frozenset[int]:
        """Insert the new items; of ``linked`` (those an intent will refer to: they need
        their row id), the indexes whose rows were inserted."""
        linked = set(linked)
        seen = iso(now)
        rows = [(source, n.item.guid, n.item.url, n.canonical_url, n.item.title,
                 n.item.summary, iso(n.item.published), seen, int(n.alert))
                for n in new_items]
        # Most of a first poll refers to nothing: one statement for them all (the daemon's
        # other threads get the GIL at each statement: one, not one per row).
        plain = [value for i, row in enumerate(rows) if i not in linked for value in row]
        for start in range(0, len(plain), _ROWS_PER_INSERT * _ITEM_COLUMNS):
            chunk = plain[start:start + _ROWS_PER_INSERT * _ITEM_COLUMNS]
            self._db.execute(_insert_items(len(chunk) // _ITEM_COLUMNS), chunk)
        for index in sorted(linked):
            cursor = self._db.execute(_INSERT_ITEM, rows[index])
            self._item_ids[index] = (cursor.lastrowid or 0) if cursor.rowcount else 0
        return frozenset(i for i, row_id in self._item_ids.items() if row_id)

    def item_ids(self, source: str, new_items: Sequence[NewItem],
                 indexes: Sequence[int]) -> frozenset[int]:
        """Keep the row ids of these items of the poll, inserted before in this transaction
        but not linked then; the indexes whose rows exist."""
        for index in indexes:
            row = self._db.execute("SELECT id FROM items WHERE source = ? AND guid = ?",
                                   (source, new_items[index].item.guid)).fetchone()
            self._item_ids[index] = int(row[0]) if row is not None else 0
        return frozenset(i for i in indexes if self._item_ids[i])

    def record_only(self, source: str, guids: Sequence[str]) -> None:
        """These items of the source, inserted before as alerting, are recorded only."""
        self._db.executemany("UPDATE items SET alert = 0 WHERE source = ? AND guid = ?",
                             [(source, guid) for guid in guids])

    def stories_of(self, items: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """(stored item id, topic) -> the item's story of that topic, where it has one."""
        found: dict[tuple[int, str], int] = {}
        for item_id, topic in items:
            row = self._db.execute("SELECT s.id FROM story_items si JOIN stories s "
                                   "ON s.id = si.story_id WHERE si.item_id = ? AND s.topic = ?",
                                   (item_id, topic)).fetchone()
            if row is not None:
                found[(item_id, topic)] = row[0]
        return found

    def story_states(self, ids: Iterable[int]) -> dict[int, StoryState]:
        wanted = sorted(set(ids))
        states: dict[int, StoryState] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._db.execute(f"SELECT id, alert, actors FROM stories "
                                      f"WHERE id IN ({marks})", chunk):
                states[r[0]] = StoryState(bool(r[1]), tuple(json.loads(r[2])))
        return states

    def known_events(self, keys: Iterable[tuple[str, EventKind]]
                     ) -> dict[tuple[str, EventKind], KnownEvent]:
        found: dict[tuple[str, EventKind], KnownEvent] = {}
        for state, kind in keys:
            row = self._db.execute("SELECT state, kind, title, first_seen, url, origin, source "
                                   "FROM events WHERE state = ? AND kind = ?",
                                   (state, kind)).fetchone()
            if row is not None:
                found[(state, kind)] = known_event(row)
        return found

    def pending_stories(self) -> list[PendingStory]:
        """The stories not yet placed in the ledger (novelty 'pending': stored by a version
        without it), oldest first."""
        rows = self._db.execute(
            "SELECT s.*, (SELECT MIN(si.item_id) FROM story_items si WHERE si.story_id = s.id) "
            "AS first_item FROM stories s WHERE s.novelty = 'pending' "
            "ORDER BY s.first_seen, s.id").fetchall()
        return [pending_story(r) for r in rows]

    def apply(self, intents: Sequence[Intent], now: datetime) -> dict[int, tuple[str, ...]]:
        """Write the intents in order; the stories whose actors were widened -> actors."""
        opened: dict[Opened, int] = {}
        widened: dict[int, tuple[str, ...]] = {}

        def story(ref: StoryRef) -> int:
            return opened[ref] if isinstance(ref, Opened) else ref

        db = self._db
        for intent in intents:
            match intent:
                case LinkCopy(item, original):
                    db.execute("INSERT OR IGNORE INTO story_items (story_id, item_id) "
                               "SELECT story_id, ? FROM story_items WHERE item_id = ?",
                               (self._item_ids[item], original))
                case OpenStory(ref, title, summary, url, published, c, alert, novelty, event):
                    cursor = db.execute(
                        "INSERT INTO stories (topic, title, summary, url, published, category, "
                        "score, actors, evidence, rules, first_seen, alert, novelty, event, "
                        "evidence_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (ref.topic, title, summary, url, iso(published), c.category, c.score,
                         json.dumps(c.actors), c.evidence, json.dumps(c.rules), iso(now),
                         int(alert), novelty, _json(event_to_json(event)), c.evidence_source))
                    opened[ref] = int(cursor.lastrowid or 0)
                case OpenEvent() | FollowEvent() | SupersedeEvent() | SetNovelty():
                    self._apply_ledger(intent, story)
                case JoinStory(item, ref):
                    db.execute("INSERT OR IGNORE INTO story_items (story_id, item_id) "
                               "VALUES (?, ?)", (story(ref), self._item_ids[item]))
                case MarkAlerted(ref):
                    db.execute("UPDATE stories SET alert = 1 WHERE id = ?", (story(ref),))
                case WidenActors(ref, actors):
                    story_id = story(ref)
                    db.execute("UPDATE stories SET actors = ? WHERE id = ?",
                               (json.dumps(actors), story_id))
                    widened[story_id] = actors
                case QueueStory(ref, notifiers):
                    story_id = story(ref)
                    db.executemany("INSERT OR IGNORE INTO outbox (notifier, story_id, "
                                   "created_at) VALUES (?, ?, ?)",
                                   [(n, story_id, iso(now)) for n in notifiers])
                case OpenIncident(source, kind, opened_at, detail):
                    db.execute("INSERT OR IGNORE INTO health_incidents (source, kind, "
                               "opened_at, detail) VALUES (?, ?, ?, ?)",
                               (source, kind, iso(opened_at), detail))
                case CloseIncident(source, kind, incident):
                    db.execute("UPDATE health_incidents SET closed_at = ? WHERE id = ?",
                               (iso(now), self._incident(source, kind, incident)))
                case RecordHealthAlert(source, kind, incident, notifier):
                    db.execute("INSERT OR IGNORE INTO health_alerts (incident_id, notifier, "
                               "alerted_at) VALUES (?, ?, ?)",
                               (self._incident(source, kind, incident), notifier, iso(now)))
                case QueueDigest(digest):
                    insert_delivery(db, digest, now)
        return widened

    def _apply_ledger(self, intent: OpenEvent | FollowEvent | SupersedeEvent | SetNovelty,
                      story: Callable[[StoryRef], int]) -> None:
        """The event ledger's intents (``story`` maps a reference to its row id)."""
        db = self._db
        match intent:
            case OpenEvent(entry, ref):
                insert_event(db, entry, None if ref is None else story(ref))
            case FollowEvent(state, kind, ref, title, url, seen):
                db.execute("INSERT OR IGNORE INTO event_reports (event_id, story_id, title, "
                           "url, first_seen) SELECT id, ?, ?, ?, ? FROM events "
                           "WHERE state = ? AND kind = ?",
                           (story(ref), title, url, iso(seen), state, kind))
            case SupersedeEvent(entry):
                supersede_event(db, entry)
            case SetNovelty(story_id, novelty, event):
                db.execute("UPDATE stories SET novelty = ?, event = ? WHERE id = ?",
                           (novelty, _json(event_to_json(event)), story_id))

    def _incident(self, source: str, kind: str, incident: int | None) -> int:
        if incident is not None:
            return incident
        row = self._db.execute("SELECT id FROM health_incidents WHERE source = ? AND "
                               "kind = ? AND closed_at IS NULL", (source, kind)).fetchone()
        return int(row[0])
