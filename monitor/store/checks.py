"""What `monitor db check` asks of both backends beyond their own integrity checks: rows
that the schema's constraints allow but the program never writes. Plain SQL that SQLite
and PostgreSQL both read; each query counts the rows that are wrong."""

from __future__ import annotations

CONSISTENCY: tuple[tuple[str, str], ...] = (
    ("deliveries with an unknown status",
     "SELECT COUNT(*) FROM deliveries WHERE status NOT IN "
     "('pending', 'sending', 'failed', 'delivered', 'dead')"),
    ("outbox rows in another notifier's digest",
     "SELECT COUNT(*) FROM outbox o JOIN deliveries d ON d.id = o.delivery_id "
     "WHERE d.notifier <> o.notifier"),
    ("story memberships without their story or item",
     "SELECT COUNT(*) FROM story_items si WHERE NOT EXISTS "
     "(SELECT 1 FROM stories s WHERE s.id = si.story_id) OR NOT EXISTS "
     "(SELECT 1 FROM items i WHERE i.id = si.item_id)"),
    ("outbox rows without their story",
     "SELECT COUNT(*) FROM outbox o WHERE NOT EXISTS "
     "(SELECT 1 FROM stories s WHERE s.id = o.story_id)"),
)

# Every table, each after those it refers to (the order `monitor db copy` fills them in);
# the row counts of `monitor db check`.
TABLES = ("sources", "items", "stories", "story_items", "deliveries", "outbox",
          "health_incidents", "health_alerts", "seen_keys", "events", "event_reports",
          "articles", "article_counts")
