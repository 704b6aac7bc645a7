"""Settling a poll's stories against the stories widened since it looked (monitor/
grouping.py, ``StoryGrouper.settle``): grouper-level polls on a real store, each compared
with the same reports polled after the other poll's commit, on one node and on two nodes
sharing a PostgreSQL database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from monitor.commit import Committed, commit_poll
from monitor.grouping import StoryGrouper
from monitor.store.base import Store
from monitor.types import Classification, NewItem, ParsedItem, PollRecord, StoryDecision
from tests.fakes import temp_store
from tests.test_grouping import BELARUS, BOTH, NEIGHBOUR, RUSSIA

NOW = datetime(2026, 3, 9, 8, 30, tzinfo=UTC)


def poll_through(grouper: StoryGrouper, store: Store, prefix: str,
                 texts: list[tuple[str, str]], actors: tuple[str, ...] | list[tuple[str, ...]],
                 meanwhile: Callable[[], object] = lambda: None,
                 category: str = "recognition_step", old: frozenset[int] = frozenset()
                 ) -> Committed:
    """A poll of source "wire" through ``grouper`` (its grouping, then ``meanwhile``, its
    settling and commit, the items past the cap recorded as capped), each report matching
    with ``actors`` (or each with its own); those numbered in ``old`` are too old to alert
    (recorded only)."""
    new = tuple(NewItem(ParsedItem(f"{prefix}{n}", f"https://wire.example/{prefix}{n}",
                                   title, summary), f"https://wire.example/{prefix}{n}",
                        "old" if n in old else "new")
                for n, (title, summary) in enumerate(texts))
    each = actors if isinstance(actors, list) else [actors] * len(new)
    grouping = grouper.group(new, [StoryDecision(n, "t", Classification(
        topic="t", match=True, score=0.9, category=category, actors=each[n], evidence="e",
        rules=("r",))) for n in range(len(new))], NOW)
    meanwhile()
    settled = grouper.settle(grouping, NOW, frozenset(
        n for n in range(len(new)) if n not in old and n not in grouping.capped))
    capped = grouping.capped | settled.capped
    new = tuple(replace(n, reason="capped") if i in capped else n for i, n in enumerate(new))
    committed = commit_poll(store, PollRecord(store.source_state("wire"), new,
                                              settled.decisions), {"t": ["desk"]}, NOW)
    grouper.widen(committed.widened)
    return committed


MINSK = [(f"{BELARUS} in a Minsk ceremony", ""),
         ("Minsk ceremony: Belarus president receives the Taliban envoy", ""),
         ("Belarus president receives the Taliban envoy at a Minsk ceremony", "")]


def stories_and_alerts(directory: Path, lead: str, reports: list[tuple[str, str]],
                       acting: tuple[str, ...] | list[tuple[str, ...]], widen_first: bool,
                       old: frozenset[int] = frozenset(), cap: int = 50
                       ) -> tuple[list[tuple[int, int]], int]:
    """Russia's story (``lead`` under its headline), then a poll of ``reports`` made after
    a report of Russia's and Belarus's step widened that story (``widen_first``), or while
    it did: (story id, items) of every story, and the alerts queued. ``cap``: the
    grouper's max_new_per_poll."""
    store = temp_store(directory / str(widen_first), [("wire", "https://wire.example/")], NOW)
    grouper = StoryGrouper(store, timedelta(days=1), max_new_per_poll=cap)
    poll = partial(poll_through, grouper, store)
    poll("x", [(RUSSIA, lead)], ("Russia",))
    widen = partial(poll, "y", [(BOTH, "")], ("Russia", "Belarus"))
    if widen_first:
        widen()
    poll("z", reports, acting, meanwhile=lambda: None if widen_first else widen(), old=old)
    sizes = [(r["story_id"], r["n"]) for r in store._query(
        "SELECT story_id, COUNT(*) AS n FROM story_items GROUP BY story_id ORDER BY 1")]
    queued = store._query("SELECT COUNT(*) AS n FROM outbox")[0]["n"]
    store.close()
    return sizes, queued


def test_a_state_a_report_brought_to_the_poll_s_story_leaves_with_it(tmp_path: Path) -> None:
    """In group, a report of Belarus's and Uzbekistan's step joins the poll's Belarus and
    Kazakhstan story, and a report of Uzbekistan's alone joins that story through it. When
    Russia's story (its lead names both) gains Belarus meanwhile, the first joins it at
    settle, taking Uzbekistan along: Uzbekistan's report opens a story of its own, as
    when the poll is made after the widening."""
    reports = [("Belarus and Kazakhstan give Kabul's envoy a seat at a Minsk summit",
                "Uzbekistan attended the summit in Minsk."),
               (f"{BELARUS} at the Minsk summit", ""),
               ("Uzbekistan gives Kabul's envoy a seat at a Minsk summit", "")]
    acting = [("Belarus", "Kazakhstan"), ("Belarus", "Uzbekistan"), ("Uzbekistan",)]
    lead = "Belarus and Uzbekistan consider the same step."
    for widen_first in (True, False):
        assert stories_and_alerts(tmp_path, lead, reports, acting, widen_first) == (
            [(1, 3), (2, 1), (3, 1)], 3)


@pytest.mark.parametrize(("reports", "old", "stories", "alerts"), [
    # the first alike Russia's story, the next two alike each other: they make one story
    (MINSK, (), [(1, 3), (2, 2)], 2),
    # both alike Russia's story: both join it
    ([MINSK[0], (BELARUS, "")], (), [(1, 4)], 1),
    # the next two alike the first, not each other: a story each
    ([*MINSK[:2], ("Fresh credentials handed over at a Minsk ceremony", "")], (),
     [(1, 3), (2, 1), (3, 1)], 3),
    # the third alike the second only: it joins the story the second opens
    ([*MINSK[:2], ("Belarus president receives Taliban envoy Abdul Karim at the palace", "")],
     (), [(1, 3), (2, 2)], 2),
    # the first too old to alert: both join Russia's story all the same
    ([MINSK[0], (BELARUS, "")], (0,), [(1, 4)], 1),
], ids=["two-left-behind", "all-join", "left-behind-unlike", "later-opener", "old-opener"])
def test_a_poll_whose_story_turns_out_to_be_a_widened_one_groups_as_if_polled_after(
        tmp_path: Path, reports: list[tuple[str, str]], old: tuple[int, ...],
        stories: list[tuple[int, int]], alerts: int) -> None:
    """A poll of Belarus reports, the first alike Russia's story, is grouped before, or
    after, Russia's story gains Belarus: the same stories and the same alerts either way
    (the reports left behind by the first, which joins Russia's story, are grouped among
    themselves as their likeness decides)."""
    for widen_first in (True, False):
        assert stories_and_alerts(tmp_path, NEIGHBOUR, reports, ("Belarus",), widen_first,
                                  frozenset(old)) == (stories, alerts)


def test_a_poll_regrouped_at_settle_opens_no_more_alerting_stories_than_its_cap(
        tmp_path: Path) -> None:
    """With max_new_per_poll 1: in group, the first report opens the poll's one story and
    the next two, each alike it but not each other, join it. When the first joins Russia's
    widened story at settle, the second opens a story and the third is capped (recorded,
    no story, no alert), as when the poll is made after the widening."""
    reports = [*MINSK[:2], ("Fresh credentials handed over at a Minsk ceremony", "")]
    for widen_first in (True, False):
        assert stories_and_alerts(tmp_path, NEIGHBOUR, reports, ("Belarus",), widen_first,
                                  cap=1) == ([(1, 3), (2, 1)], 2)
        with closing(sqlite3.connect(tmp_path / str(widen_first) / "m.db")) as db:
            assert db.execute("SELECT guid FROM items WHERE alert = 0").fetchall() == [("z2",)]


def test_a_node_learns_that_another_widened_a_story_it_joins_in_another_language(
        tmp_path: Path, postgres: str) -> None:
    """Two nodes' groupers on one PostgreSQL database. The first knows a Russian report of
    Russia's recognition (its lead names Belarus) as Russia's story; the second commits a
    Russian report of both states' recognition, which widens it. The first node's English
    report of both states' recognition shares no headline word with that story, and joins
    it as the same step in another language: no second alert."""
    first_store = temp_store(tmp_path, [("wire", "https://wire.example/")], NOW, postgres)
    second_store = temp_store(tmp_path, (), NOW, postgres)
    first = StoryGrouper(first_store, timedelta(days=1), max_new_per_poll=50)
    second = StoryGrouper(second_store, timedelta(days=1), max_new_per_poll=50)
    granted = partial(poll_through, category="recognition_granted")
    try:
        granted(first, first_store, "x", [("Россия признала власть талибов в Афганистане",
                                           "Беларусь обдумывает тот же шаг.")], ("Russia",))
        # the first node's next poll reads Russia's story (another story: Norway's)
        granted(first, first_store, "w", [("Norway recognises the Taliban government", "")],
                ("Norway",))
        granted(second, second_store, "y", [("Россия и Беларусь признали власть талибов", "")],
                ("Russia", "Belarus"))
        committed = granted(first, first_store, "z", [
            ("Russia and Belarus recognise Taliban rule in Afghanistan", "")],
            ("Russia", "Belarus"))
        assert committed.alerting == ()
        rows = first_store._query("SELECT story_id, COUNT(*) AS n FROM story_items "
                                  "GROUP BY story_id ORDER BY story_id")
        assert [r["n"] for r in rows] == [3, 1]
    finally:
        second_store.close()
        first_store.close()
