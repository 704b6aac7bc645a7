"""The SQLite schema, as numbered migrations. The version lives in PRAGMA user_version.

Migration N brings a database from version N-1 to N. Never edit a released
migration: add a new one. A database newer than the code is refused.
Times are ISO 8601 UTC strings ("2025-07-03T10:15:00+00:00"), which sort as text.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: sources, items, stories, outbox, deliveries
    """
    -- One row per configured source: validators, health and scheduling.
    CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        config_url TEXT NOT NULL,               -- URL as configured
        url TEXT NOT NULL,                      -- URL to fetch (after permanent redirects)
        etag TEXT,
        last_modified TEXT,
        body_hash TEXT,                         -- sha256 of the last body parsed
        first_polled_at TEXT,                   -- NULL until the first successful poll
        last_fetch_at TEXT,
        last_success_at TEXT,
        last_new_item_at TEXT,
        last_status TEXT,                       -- ok | not_modified | unchanged | error | gone
        last_error TEXT,
        last_error_at TEXT,
        failing_since TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        next_poll_at TEXT,
        items_seen INTEGER NOT NULL DEFAULT 0,
        last_items INTEGER NOT NULL DEFAULT 0,
        last_new INTEGER NOT NULL DEFAULT 0,
        gone INTEGER NOT NULL DEFAULT 0
    );

    -- Every item ever seen. (source, guid) is the identity within a source.
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        guid TEXT NOT NULL,
        url TEXT NOT NULL,
        canonical_url TEXT NOT NULL,
        title TEXT NOT NULL,
        summary TEXT NOT NULL,
        published TEXT,
        first_seen TEXT NOT NULL,
        alert INTEGER NOT NULL,                 -- 0: recorded only (old on a first poll)
        UNIQUE (source, guid)                   -- serves: is this guid new for this source?
    );
    -- serves: has another source already delivered this URL?
    CREATE INDEX items_canonical_url ON items (canonical_url) WHERE canonical_url != '';

    -- A story: one event on one topic, reported by one or more items.
    CREATE TABLE stories (
        id INTEGER PRIMARY KEY,
        topic TEXT NOT NULL,
        title TEXT NOT NULL,
        summary TEXT NOT NULL,
        url TEXT NOT NULL,
        published TEXT,
        category TEXT,
        score REAL NOT NULL,
        actors TEXT NOT NULL,                   -- JSON list of country names
        evidence TEXT NOT NULL,
        rules TEXT NOT NULL,                    -- JSON list of rule names
        first_seen TEXT NOT NULL,
        alert INTEGER NOT NULL                  -- 0: found on a first poll, too old to alert
    );
    -- serves: recent stories of a topic (grouping) and `monitor matches --since`
    CREATE INDEX stories_topic_seen ON stories (topic, first_seen);
    CREATE INDEX stories_seen ON stories (first_seen);

    CREATE TABLE story_items (
        story_id INTEGER NOT NULL REFERENCES stories (id),
        item_id INTEGER NOT NULL REFERENCES items (id),
        PRIMARY KEY (story_id, item_id)
    );
    -- serves: which story does this item belong to?
    CREATE INDEX story_items_item ON story_items (item_id);

    -- One row per (notifier, story) to alert; written with the item that opened the story.
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        notifier TEXT NOT NULL,
        story_id INTEGER NOT NULL REFERENCES stories (id),
        created_at TEXT NOT NULL,
        delivery_id TEXT REFERENCES deliveries (id),   -- NULL until put into a digest
        UNIQUE (notifier, story_id)             -- a story is alerted once per notifier
    );
    -- serves: pending stories of a notifier, not yet in a digest
    CREATE INDEX outbox_unassigned ON outbox (notifier) WHERE delivery_id IS NULL;

    -- One digest for one notifier. The payload is frozen when the digest is made,
    -- so every retry sends the same content under the same id.
    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        notifier TEXT NOT NULL,
        kind TEXT NOT NULL,                     -- stories | health | test
        created_at TEXT NOT NULL,
        status TEXT NOT NULL,                   -- pending | sending | failed | delivered | dead
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_attempt_at TEXT,
        last_error TEXT,
        delivered_at TEXT,
        payload TEXT NOT NULL                   -- JSON of the Digest
    );
    -- serves: what is due for a notifier; `monitor deliveries`
    CREATE INDEX deliveries_due ON deliveries (notifier, status, next_attempt_at);
    """,
    # 2: source-health incidents for operator notifiers
    """
    -- One row per incident: a source failing too long, silent too long, or a page whose
    -- selector stopped matching. Open while closed_at IS NULL.
    CREATE TABLE health_incidents (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,                     -- failing | silent | selector
        opened_at TEXT NOT NULL,
        detail TEXT NOT NULL,
        closed_at TEXT
    );
    -- serves: the open incidents of a source (one per kind)
    CREATE UNIQUE INDEX health_incidents_open ON health_incidents (source, kind)
        WHERE closed_at IS NULL;

    -- Which operator notifier was told of which incident (so recovery goes to the same ones).
    -- serves: the daemon's tick, which sources are due (every few seconds)
    CREATE INDEX sources_next_poll ON sources (next_poll_at);

    CREATE TABLE health_alerts (
        incident_id INTEGER NOT NULL REFERENCES health_incidents (id),
        notifier TEXT NOT NULL,
        alerted_at TEXT NOT NULL,
        PRIMARY KEY (incident_id, notifier)
    );
    """,
    # 3: a source's usual volume, and whether it is flooding (health_incidents.kind
    # 'flooding' while it is)
    """
    ALTER TABLE sources ADD COLUMN new_per_poll REAL NOT NULL DEFAULT 0;  -- moving average
    ALTER TABLE sources ADD COLUMN flooding_since TEXT;        -- NULL unless flooding
    ALTER TABLE sources ADD COLUMN last_capped INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: retention. An item deleted for its age leaves its deduplication keys here, so that
    # a feed still serving it, or another outlet's copy of its URL, never alerts again.
    """
    -- key: the first 8 bytes of sha256 of ("guid", source, guid) or ("url", canonical url)
    -- (monitor.retention.dedup_key), as a signed 64-bit integer: about 10 bytes a key.
    -- serves: known_guids and forgotten_urls, for the guids and URLs not in items
    CREATE TABLE seen_keys (key INTEGER PRIMARY KEY);
    -- serves: retention, delivered deliveries older than the cutoff
    CREATE INDEX deliveries_delivered ON deliveries (delivered_at) WHERE status = 'delivered';
    -- serves: retention, items older than the cutoff; `monitor status`, the oldest item
    CREATE INDEX items_seen ON items (first_seen);
    -- serves: retention, whether a delivery's outbox rows may go with it
    CREATE INDEX outbox_delivery ON outbox (delivery_id);
    -- serves: retention, whether a story is still waited for by an outbox row
    CREATE INDEX outbox_story ON outbox (story_id);
    """,
    # 5: what a source's last error was (monitor.types.ErrorKind), beside its message. The
    # rows of older versions get it from their message, once, so their health verdicts
    # stay: the selector error was the ParseError ending "matched nothing".
    """
    ALTER TABLE sources ADD COLUMN last_error_kind TEXT;      -- NULL when no error yet
    UPDATE sources SET last_error_kind = CASE
        WHEN last_error IS NULL THEN NULL
        WHEN gone THEN 'gone'
        WHEN last_error LIKE 'ParseError: item_selector % matched nothing' THEN 'selector'
        WHEN last_error LIKE 'ParseError: %' THEN 'parse'
        WHEN last_error LIKE 'FetchError: %' THEN 'fetch'
        ELSE 'crash'
    END;
    """,
    # 6: the event ledger (monitor/events.py): each state's first reported step of a kind,
    # and the stories that report it later; a story's place in it. The ledger keeps its own
    # copy of every report it shows: retention deletes stories (and SQLite gives a deleted
    # story's id to the next story), the ledger stays, their ids set to NULL.
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        state TEXT NOT NULL,
        kind TEXT NOT NULL,                     -- monitor.types.EventKind
        title TEXT NOT NULL,                    -- the first report's headline
        url TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        story_id INTEGER,                       -- the first report's story; NULL when shipped,
                                                -- or once retention deleted it
        origin TEXT NOT NULL,                   -- shipped | monitor
        source TEXT NOT NULL,                   -- the shipped file's citation
        UNIQUE (state, kind)                    -- serves: the planner's lookups
    );
    -- serves: retention, forgetting the ids of the stories it deletes
    CREATE INDEX events_story ON events (story_id) WHERE story_id IS NOT NULL;

    -- the later reports of an event, as the ledger shows them
    CREATE TABLE event_reports (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL REFERENCES events (id),
        story_id INTEGER,                       -- NULL once retention deleted the story
        title TEXT NOT NULL,                    -- the report's headline
        url TEXT NOT NULL,
        first_seen TEXT NOT NULL,               -- when it was reported
        UNIQUE (event_id, story_id)             -- a story reports an event once
    );
    -- serves: retention, forgetting the ids of the stories it deletes
    CREATE INDEX event_reports_story ON event_reports (story_id) WHERE story_id IS NOT NULL;

    ALTER TABLE stories ADD COLUMN novelty TEXT;   -- first | follow_up | pending | NULL
                                                   -- (no event)
    ALTER TABLE stories ADD COLUMN event TEXT;     -- JSON of monitor.types.StoryEvent
    -- The stories of an older version are placed in the ledger at the next start
    -- (monitor.commit.settle_ledger), in the order they were seen: a later report of a step
    -- they reported is a follow-up, not "first".
    UPDATE stories SET novelty = 'pending';
    -- serves: the start's look for stories not yet placed in the ledger
    CREATE INDEX stories_pending ON stories (first_seen) WHERE novelty = 'pending';
    """,
    # 7: reading the article when the headline is not enough (monitor/articles.py): a cache
    # of what articles' openings said, reads counted per hour for `monitor status`, and
    # where each story's evidence sentence was read.
    """
    CREATE TABLE articles (
        url TEXT PRIMARY KEY,                   -- canonical URL of the item that linked it
                                                -- serves: is this article read already?
        fetched_at TEXT NOT NULL,
        text TEXT NOT NULL,                     -- its opening, as classified ('' if failed)
        error TEXT                              -- NULL when it was read
    );
    -- serves: retention, articles read before the cutoff
    CREATE INDEX articles_fetched ON articles (fetched_at);

    CREATE TABLE article_counts (
        hour TEXT PRIMARY KEY,                  -- UTC hour, "2025-07-03T10"
                                                -- serves: `monitor status`, the last 24 hours
        fetched INTEGER NOT NULL DEFAULT 0,     -- fetched and read
        from_cache INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,      -- fetched or refused, no text
        skipped INTEGER NOT NULL DEFAULT 0      -- wanted, past the budget
    );

    ALTER TABLE stories ADD COLUMN evidence_source TEXT;   -- headline | lead | article;
                                                           -- NULL for older stories
    """,
    # 8: nodes (monitor/cluster.py): every `monitor run` or `monitor once` on this database,
    # its heartbeat, and the leases it holds on sources and deliveries. A lease is free when
    # its owner is NULL or its time has passed.
    """
    CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL,
        config_hash TEXT NOT NULL,              -- monitor.cluster.config_hash
        singletons TEXT NOT NULL DEFAULT '[]'   -- JSON list: held at its last heartbeat
    );
    ALTER TABLE sources ADD COLUMN lease_owner TEXT;    -- the node polling it, or NULL
    ALTER TABLE sources ADD COLUMN lease_until TEXT;
    ALTER TABLE sources ADD COLUMN retired_at TEXT;     -- left the config: kept, not polled
    ALTER TABLE deliveries ADD COLUMN lease_owner TEXT; -- the node sending it, or NULL
    ALTER TABLE deliveries ADD COLUMN lease_until TEXT;
    -- serves: what a node holds (`monitor status`), renewing and releasing a node's leases
    CREATE INDEX sources_lease ON sources (lease_owner) WHERE lease_owner IS NOT NULL;
    CREATE INDEX deliveries_lease ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
