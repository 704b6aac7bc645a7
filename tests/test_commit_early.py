"""A poll's items inserted before the rest of its commit (monitor.commit.insert_early, as
PostgreSQL polls do before the record lock), then brought up to the poll's final
decisions by commit_in: on both backends' writers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from monitor.commit import commit_in, commit_poll, insert_early
from monitor.types import Classification, NewItem, ParsedItem, PollRecord, StoryDecision
from tests.fakes import temp_store

NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
VERDICT = Classification(topic="t", match=True, score=0.9, category="recognition_step",
                         actors=("Russia",), evidence="Evidence.", rules=("r",))


def item(guid: str, url: str, title: str) -> NewItem:
    return NewItem(ParsedItem(guid=guid, url=url, title=title), url)


def test_rows_inserted_early_take_the_final_decisions(tmp_path: Path, database: str) -> None:
    """wire's poll inserts three items as alerting; by its commit the first is a copy of
    an article other stored meanwhile, the third is capped: both are recorded only, and
    the copy, linked only now, joins other's story."""
    store = temp_store(tmp_path, [("wire", "https://wire.example/rss"),
                                  ("other", "https://other.example/rss")], NOW, database)
    try:
        shared = "https://news.example/shared"
        commit_poll(store, PollRecord(store.source_state("other"),
                                      (item("o1", shared, "Russia's envoy accepted"),),
                                      (StoryDecision(0, "t", VERDICT),)), {"t": ["n"]}, NOW)
        original = store._query("SELECT id FROM items WHERE source = 'other'")[0]["id"]
        polled = (item("w1", shared, "Market prices"),
                  item("w2", "https://wire.example/2", "Norway's envoy accepted"),
                  item("w3", "https://wire.example/3", "Latvia's envoy accepted"))
        opens = (StoryDecision(1, "t", VERDICT),)
        final = (replace(polled[0], reason="duplicate", duplicate_of=original), polled[1],
                 replace(polled[2], reason="capped"))
        with store.poll_transaction() as writer:
            early = insert_early(writer, "wire", polled, opens, NOW)
            commit_in(writer, PollRecord(store.source_state("wire"), final, opens),
                      {"t": ["n"]}, NOW, early=early)
        assert {r["guid"]: bool(r["alert"]) for r in store._query(
            "SELECT guid, alert FROM items WHERE source = 'wire'")} == {
            "w1": False, "w2": True, "w3": False}
        assert sorted(r["guid"] for r in store._query(
            "SELECT i.guid FROM story_items si JOIN items i ON i.id = si.item_id "
            f"WHERE si.story_id = (SELECT story_id FROM story_items WHERE item_id = {original})"
        )) == ["o1", "w1"]
        assert len(store._query("SELECT story_id FROM outbox")) == 2
    finally:
        store.close()
