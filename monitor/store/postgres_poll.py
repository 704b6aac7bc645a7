"""The PostgreSQL side of a poll's commit: write the items, read what the planners need,
apply their intents (monitor/intents.py). SQL and row mapping only, as sqlite_poll.py: the
decisions are monitor/plan.py's, and monitor/commit.py runs the steps in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

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
from monitor.store.codec import digest_to_json, event_to_json, known_event, pending_story
from monitor.store.postgres_nodes import RECORD_LOCK
from monitor.types import Digest, EventKind, NewItem, SourceState, StoryEvent

Connection = psycopg.Connection[DictRow]

_INSERT_ITEM = ("INSERT INTO items (source, guid, url, canonical_url, title, summary, "
                "published, first_seen, alert) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (source, guid) DO NOTHING")
# Many items in one statement: their values in one JSON parameter, read back as rows by the
# server. The text and its parameters' types never change: one plan, prepared once on each
# connection (an INSERT of one VALUES row per item changes with the number of items, and
# is planned anew each time, or prepared on each connection for each number of items).
_INSERT_ITEMS = ("INSERT INTO items (source, guid, url, canonical_url, title, summary, "
                 "published, first_seen, alert) SELECT %s, guid, url, canonical_url, title, "
                 "summary, published, %s, alert FROM json_to_recordset(%s::json) AS item "
                 "(guid text, url text, canonical_url text, title text, summary text, "
                 "published timestamptz, alert boolean) "
                 "ON CONFLICT (source, guid) DO NOTHING")


# Rows this transaction wrote: a node whose lease lapsed may find the same (source, guid)
# committed by the node that polled the source meanwhile, which is not its to change.
# (txid_current()'s low 32 bits are the transaction's xid, on every server version.)
_THIS_TRANSACTION = "xmin::text::bigint = mod(txid_current(), 4294967296)"


def insert_delivery(db: Connection, digest: Digest, now: datetime) -> None:
    """A pending delivery of ``digest``, its payload frozen."""
    db.execute("INSERT INTO deliveries (id, notifier, kind, created_at, status, "
               "next_attempt_at, payload) VALUES (%s, %s, %s, %s, 'pending', %s, %s)",
               (digest.id, digest.notifier, digest.kind, now, now,
                Jsonb(digest_to_json(digest))))


def _event(event: StoryEvent | None) -> Jsonb | None:
    data = event_to_json(event)
    return None if data is None else Jsonb(data)


def insert_event(db: Connection, entry: KnownEvent, story_id: int | None) -> None:
    """A ledger entry, unless its (state, kind) has one already."""
    db.execute("INSERT INTO events (state, kind, title, url, first_seen, story_id, origin, "
               "source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
               (entry.state, entry.kind, entry.title, entry.url, entry.seen, story_id,
                entry.origin, entry.source))


def supersede_event(db: Connection, entry: KnownEvent) -> None:
    """``entry`` takes the place of the ledger's entry of its (state, kind), whose first
    report becomes a later report of it."""
    key = (entry.state, entry.kind)
    db.execute("INSERT INTO event_reports (event_id, story_id, title, url, first_seen) "
               "SELECT id, story_id, title, url, first_seen FROM events "
               "WHERE state = %s AND kind = %s ON CONFLICT DO NOTHING", key)
    db.execute("UPDATE events SET title = %s, url = %s, first_seen = %s, story_id = NULL, "
               "origin = %s, source = %s WHERE state = %s AND kind = %s",
               (entry.title, entry.url, entry.seen, entry.origin, entry.source, *key))


def _json_row(new: NewItem) -> dict[str, object]:
    """An item's values for _INSERT_ITEMS (a time as ISO 8601 text, with its offset)."""
    item = new.item
    return {"guid": item.guid, "url": item.url, "canonical_url": new.canonical_url,
            "title": item.title, "summary": item.summary,
            "published": item.published.isoformat() if item.published else None,
            "alert": new.alert}


class PostgresPollWriter:
    """One poll's commit on an open transaction (see monitor.store.base.PollWriter)."""

    def __init__(self, db: Connection, write_state: Callable[[SourceState], None]) -> None:
        self._db = db
        self.write_state = write_state   # the source's state after the poll
        self._item_ids: dict[int, int] = {}    # new_items index -> row id (0: not inserted)

    def lock_records(self) -> None:
        """The cluster's record lock until this transaction ends (no session of its own
        waits for it: the commit releases it, a lost connection with the transaction)."""
        self._db.execute("SELECT pg_advisory_xact_lock(%s)", (RECORD_LOCK,))

    def insert_items(self, source: str, new_items: Sequence[NewItem], linked: Iterable[int],
                     now: datetime) -> frozenset[int]:
        """Insert the new items; of ``linked`` (those an intent will refer to: they need
        their row id), the indexes whose rows were inserted."""
        linked = set(linked)
        with self._db.cursor() as cursor:
            # Most of a first poll refers to nothing: one statement for them all, where an
            # executemany sends, and the server runs, one a row.
            plain = [_json_row(n) for i, n in enumerate(new_items) if i not in linked]
            if plain:
                cursor.execute(_INSERT_ITEMS, (source, now, json.dumps(plain)))
            for index in sorted(linked):
                n = new_items[index]
                found = cursor.execute(_INSERT_ITEM + " RETURNING id", (
                    source, n.item.guid, n.item.url, n.canonical_url, n.item.title,
                    n.item.summary, n.item.published, now, n.alert)).fetchone()
                self._item_ids[index] = int(found["id"]) if found else 0
        return frozenset(i for i, row_id in self._item_ids.items() if row_id)

    def item_ids(self, source: str, new_items: Sequence[NewItem],
                 indexes: Sequence[int]) -> frozenset[int]:
        """Keep the row ids of these items of the poll, inserted before in this transaction
        but not linked then; the indexes whose rows exist."""
        guids = [new_items[i].item.guid for i in indexes]
        rows = self._db.execute("SELECT guid, id FROM items WHERE source = %s AND "
                                "guid = ANY(%s::text[]) AND " + _THIS_TRANSACTION,
                                (source, guids)).fetchall()
        ids = {r["guid"]: int(r["id"]) for r in rows}
        for index, guid in zip(indexes, guids, strict=True):
            self._item_ids[index] = ids.get(guid, 0)
        return frozenset(i for i in indexes if self._item_ids[i])

    def record_only(self, source: str, guids: Sequence[str]) -> None:
        """These items of the source, inserted before as alerting, are recorded only."""
        self._db.execute("UPDATE items SET alert = false WHERE source = %s AND "
                         "guid = ANY(%s::text[]) AND " + _THIS_TRANSACTION,
                         (source, list(guids)))

    def stories_of(self, items: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """(stored item id, topic) -> the item's story of that topic, where it has one."""
        found: dict[tuple[int, str], int] = {}
        for item_id, topic in items:
            row = self._db.execute("SELECT s.id FROM story_items si JOIN stories s "
                                   "ON s.id = si.story_id WHERE si.item_id = %s AND "
                                   "s.topic = %s", (item_id, topic)).fetchone()
            if row is not None:
                found[(item_id, topic)] = int(row["id"])
        return found

    def story_states(self, ids: Iterable[int]) -> dict[int, StoryState]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self._db.execute("SELECT id, alert, actors FROM stories "
                                "WHERE id = ANY(%s::bigint[])", (wanted,))
        return {r["id"]: StoryState(r["alert"], tuple(r["actors"])) for r in rows}

    def known_events(self, keys: Iterable[tuple[str, EventKind]]
                     ) -> dict[tuple[str, EventKind], KnownEvent]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        rows = self._db.execute(
            "SELECT state, kind, title, first_seen, url, origin, source FROM events "
            "WHERE (state, kind) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
            ([s for s, _ in wanted], [k for _, k in wanted]))
        return {(e.state, e.kind): e for e in map(known_event, rows)}

    def pending_stories(self) -> list[PendingStory]:
        """The stories not yet placed in the ledger (novelty 'pending'), oldest first."""
        rows = self._db.execute(
            "SELECT s.*, (SELECT MIN(si.item_id) FROM story_items si WHERE si.story_id = s.id) "
            "AS first_item FROM stories s WHERE s.novelty = 'pending' "
            "ORDER BY s.first_seen, s.id")
        return [pending_story(r) for r in rows]

    def apply(self, intents: Sequence[Intent], now: datetime) -> dict[int, tuple[str, ...]]:
        """Write the intents in order; the stories whose actors were widened -> actors."""
        opened: dict[Opened, int] = {}
        widened: dict[int, tuple[str, ...]] = {}

        def story(ref: StoryRef) -> int:
            return opened[ref] if isinstance(ref, Opened) else ref

        for intent in intents:
            if isinstance(intent, OpenStory):
                opened[intent.ref] = self._open_story(intent, now)
            elif isinstance(intent, WidenActors):
                story_id = story(intent.story)
                self._run("UPDATE stories SET actors = %s WHERE id = %s",
                          (Jsonb(list(intent.actors)), story_id))
                widened[story_id] = intent.actors
            else:
                self._write(intent, story, now)
        return widened

    def _open_story(self, intent: OpenStory, now: datetime) -> int:
        c = intent.classification
        row = self._db.execute(
            "INSERT INTO stories (topic, title, summary, url, published, category, score, "
            "actors, evidence, rules, first_seen, alert, novelty, event, evidence_source) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (intent.ref.topic, intent.title, intent.summary, intent.url, intent.published,
             c.category, c.score, Jsonb(list(c.actors)), c.evidence, Jsonb(list(c.rules)),
             now, intent.alert, intent.novelty, _event(intent.event),
             c.evidence_source)).fetchone()
        assert row is not None  # INSERT ... RETURNING gives its row
        return int(row["id"])

    def _write(self, intent: Intent, story: Callable[[StoryRef], int], now: datetime) -> None:
        """The intents that only write (no id to remember)."""
        match intent:
            case LinkCopy(item, original):
                self._run("INSERT INTO story_items (story_id, item_id) SELECT story_id, %s "
                          "FROM story_items WHERE item_id = %s ON CONFLICT DO NOTHING",
                          (self._item_ids[item], original))
            case JoinStory(item, ref):
                self._run("INSERT INTO story_items (story_id, item_id) VALUES (%s, %s) "
                          "ON CONFLICT DO NOTHING", (story(ref), self._item_ids[item]))
            case MarkAlerted(ref):
                self._run("UPDATE stories SET alert = true WHERE id = %s", (story(ref),))
            case QueueStory(ref, notifiers):
                with self._db.cursor() as cursor:
                    cursor.executemany("INSERT INTO outbox (notifier, story_id, created_at) "
                                       "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                                       [(n, story(ref), now) for n in notifiers])
            case OpenIncident(source, kind, opened_at, detail):
                self._run("INSERT INTO health_incidents (source, kind, opened_at, detail) "
                          "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                          (source, kind, opened_at, detail))
            case CloseIncident(source, kind, incident):
                self._run("UPDATE health_incidents SET closed_at = %s WHERE id = %s",
                          (now, self._incident(source, kind, incident)))
            case RecordHealthAlert(source, kind, incident, notifier):
                self._run("INSERT INTO health_alerts (incident_id, notifier, alerted_at) "
                          "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                          (self._incident(source, kind, incident), notifier, now))
            case QueueDigest(digest):
                insert_delivery(self._db, digest, now)
            case OpenEvent() | FollowEvent() | SupersedeEvent() | SetNovelty():
                self._apply_ledger(intent, story)

    def _apply_ledger(self, intent: OpenEvent | FollowEvent | SupersedeEvent | SetNovelty,
                      story: Callable[[StoryRef], int]) -> None:
        """The event ledger's intents (``story`` maps a reference to its row id)."""
        match intent:
            case OpenEvent(entry, ref):
                insert_event(self._db, entry, None if ref is None else story(ref))
            case FollowEvent(state, kind, ref, title, url, seen):
                self._run("INSERT INTO event_reports (event_id, story_id, title, url, "
                          "first_seen) SELECT id, %s, %s, %s, %s FROM events "
                          "WHERE state = %s AND kind = %s ON CONFLICT DO NOTHING",
                          (story(ref), title, url, seen, state, kind))
            case SupersedeEvent(entry):
                supersede_event(self._db, entry)
            case SetNovelty(story_id, novelty, event):
                self._run("UPDATE stories SET novelty = %s, event = %s WHERE id = %s",
                          (novelty, _event(event), story_id))

    def _run(self, sql: str, params: Sequence[Any]) -> None:
        self._db.execute(sql, params)

    def _incident(self, source: str, kind: str, incident: int | None) -> int:
        if incident is not None:
            return incident
        row = self._db.execute("SELECT id FROM health_incidents WHERE source = %s AND "
                               "kind = %s AND closed_at IS NULL", (source, kind)).fetchone()
        if row is None:
            raise psycopg.DataError(f"no open {kind} incident of source {source!r}")
        return int(row["id"])
