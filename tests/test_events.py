"""The event ledger: first reports and follow-ups of each state's steps (monitor/events.py),
from the verdict to the alert and `monitor events`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor.app import App, build_app
from monitor.classify import build_classifier
from monitor.classify.gazetteer import find_states
from monitor.commit import settle_ledger
from monitor.config import TopicConfig, load_config_data
from monitor.digest import render_text, story_payload
from monitor.events import (
    EVENT_KINDS,
    KIND_LABELS,
    KnownEvent,
    LedgerEntry,
    day_text,
    event_kind,
    format_ledger,
    known_events,
    plan_event,
)
from monitor.retention import plan_retention, run_retention
from monitor.store.schema import MIGRATIONS
from monitor.types import Classification, Digest, Story
from tests.fakes import FixedClock
from tests.loopback import LoopbackHTTPServer, Response

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
CLASSIFIER = build_classifier(TopicConfig(name="taliban-recognition", event="recognition",
                                          entities=["Taliban"]))


def verdict(title: str) -> Classification:
    found = CLASSIFIER.classify(title)
    assert found.match, (title, found.reason)
    return found


@pytest.mark.parametrize(("title", "kind"), [
    ("Tajikistan formally recognises the Taliban government", "recognised"),
    ("Kyrgyzstan accepts the credentials of the Taliban's ambassador", "accepted_envoy"),
    ("Mongolia names an ambassador to Kabul", "sent_ambassador"),
    ("Turkmenistan hands over the Afghan embassy in Ashgabat to the Taliban", "embassy"),
    ("Belarus removes the Taliban from its list of terrorist organisations", "delisted"),
    ("Azerbaijan upgrades its diplomatic ties with the Taliban", "upgraded_ties"),
    ("Canada will not recognise the Taliban government", "refused"),
    ("Norway refuses to recognise the Taliban", "refused"),
])
def test_the_kind_of_step_a_verdict_reports(title: str, kind: str) -> None:
    assert event_kind(verdict(title)) == kind


def test_every_step_rule_names_a_kind() -> None:
    from monitor.classify.steps import STEP, STEP_RULES
    from monitor.events import _RULE_KINDS

    steps = {rule.name for rule in STEP_RULES if rule.category == STEP}
    assert steps - set(_RULE_KINDS) == set()
    assert set(_RULE_KINDS) - steps == set(), "a kind for a rule that is gone"


def test_a_debate_without_a_refusal_is_no_step() -> None:
    found = verdict("Diplomats in Doha debate whether to recognise the Taliban government")
    assert found.category == "recognition_refused_or_debated"
    assert event_kind(found) is None
    assert plan_event(found, "t", "", NOW, {}).novelty is None


def test_a_verdict_with_no_match_is_no_step() -> None:
    assert event_kind(CLASSIFIER.classify("Kabul hosts a cricket tournament")) is None


def test_first_then_follow_up() -> None:
    found = verdict("Kyrgyzstan accepts the credentials of the Taliban's ambassador")
    first = plan_event(found, "Kyrgyzstan accepts envoy", "https://a.example/1", NOW, {})
    assert first.novelty == "first"
    assert [(e.state, e.kind) for e in first.opens] == [("Kyrgyzstan", "accepted_envoy")]
    assert first.event is not None and first.event.first_title == "Kyrgyzstan accepts envoy"

    ledger = {(e.state, e.kind): e for e in first.opens}
    later = plan_event(found, "Bishkek receives envoy", "", NOW + timedelta(days=30), ledger)
    assert later.novelty == "follow_up"
    assert later.opens == ()
    assert later.follows == (("Kyrgyzstan", "accepted_envoy"),)
    assert later.event is not None
    assert later.event.first_title == "Kyrgyzstan accepts envoy"
    assert later.event.first_seen == NOW


def test_only_the_first_acting_state_takes_the_step() -> None:
    found = verdict("Kazakhstan and Kyrgyzstan remove the Taliban from their lists of "
                    "banned organisations")
    assert found.actors == ("Kazakhstan", "Kyrgyzstan")
    shipped = {(e.state, e.kind): e for e in known_events()}
    decision = plan_event(found, "both delist", "", NOW, shipped)
    # Kazakhstan's delisting is known: a follow-up; Kyrgyzstan is given no step of its own
    # (a second state in a headline is as often acted upon or only mentioned).
    assert decision.novelty == "follow_up"
    assert decision.opens == ()
    assert decision.follows == (("Kazakhstan", "delisted"),)


@pytest.mark.parametrize("title", [
    "Norway debates whether to recognise the Taliban government",
    "Uzbekistan now weighs recognition of the Taliban government",
    "Diplomats in Doha debate whether to recognise the Taliban government",
])
def test_a_debate_is_not_a_refusal(title: str) -> None:
    found = verdict(title)
    assert found.category == "recognition_refused_or_debated"
    assert event_kind(found) is None


@pytest.mark.parametrize(("title", "state", "kind"), [
    ("Россия официально признала правительство движения Талибан", "Russia", "recognised"),
    ("Москва приняла верительные грамоты посла Исламского Эмирата", "Russia", "accepted_envoy"),
    ("中国接受塔利班任命的驻华大使递交的国书", "China", "accepted_envoy"),
    ("哈萨克斯坦将塔利班从禁止组织名单中移除", "Kazakhstan", "delisted"),
])
def test_a_report_in_the_region_s_language_of_a_known_step_is_a_follow_up(
        title: str, state: str, kind: str) -> None:
    shipped = {(e.state, e.kind): e for e in known_events()}
    decision = plan_event(verdict(title), title, "", NOW, shipped)
    assert decision.novelty == "follow_up"
    assert decision.follows == ((state, kind),)
    assert decision.event is not None and decision.event.first_title == shipped[
        (state, kind)].title


def test_a_report_in_russian_of_a_new_step_is_a_first() -> None:
    title = "Таджикистан принял верительные грамоты посла талибов"
    decision = plan_event(verdict(title), title, "", NOW,
                          {(e.state, e.kind): e for e in known_events()})
    assert decision.novelty == "first"
    assert [(e.state, e.kind, e.title) for e in decision.opens] == [
        ("Tajikistan", "accepted_envoy", title)]


def test_an_old_report_dates_its_step_from_its_publication() -> None:
    found = verdict("Kyrgyzstan accepts the credentials of the Taliban's ambassador")
    published = datetime(2024, 9, 20, 8, 0, tzinfo=UTC)
    decision = plan_event(found, "t", "", published, {})
    assert decision.event is not None and decision.event.first_seen == published


def test_the_shipped_file_is_sound() -> None:
    entries = known_events()
    assert len(entries) >= 5
    keys = [(e.state, e.kind) for e in entries]
    assert len(keys) == len(set(keys)), "one entry per (state, kind)"
    for entry in entries:
        assert find_states(entry.state + " says") == (entry.state,), entry.state
        assert entry.kind in EVENT_KINDS and entry.kind in KIND_LABELS
        assert entry.source and entry.title and entry.origin == "shipped"
        assert entry.seen < datetime(2026, 1, 1, tzinfo=UTC)
    russia = {e.kind: e for e in entries if e.state == "Russia"}
    assert russia["recognised"].seen == datetime(2025, 7, 3, tzinfo=UTC)


def test_a_bad_kind_in_the_file_is_named() -> None:
    text = json.dumps({"events": [{"state": "Russia", "kind": "befriended", "date": "2025-01-02",
                                   "title": "t", "source": "s"}]})
    with pytest.raises(ValueError, match="known event 1: unknown kind 'befriended'"):
        known_events(text)


def test_alerts_say_first_or_what_they_follow() -> None:
    found = verdict("Russia formally recognises the Taliban government")
    shipped = {(e.state, e.kind): e for e in known_events()}
    decision = plan_event(found, "Moscow recognises the Taliban", "", NOW, shipped)
    story = Story(id=1, topic="t", title="Moscow recognises the Taliban", url="", published=NOW,
                  category=found.category, score=1.0, actors=found.actors,
                  evidence=found.evidence, sources=(), novelty=decision.novelty,
                  event=decision.event)
    text = render_text(Digest("d1", "n", NOW, (story,)))
    assert "Follow-up of: Russia recognised the Taliban government, first reported " \
           "3 Jul 2025" in text
    uae = KnownEvent("United Arab Emirates", "accepted_envoy", "t",
                     datetime(2024, 8, 1, tzinfo=UTC), origin="shipped")
    assert day_text(uae.seen) == "Aug 2024"   # a shipped date known to the month
    payload = story_payload(story)
    assert payload["novelty"] == "follow_up"
    assert payload["event"]["state"] == "Russia"
    assert payload["event"]["kind"] == "recognised"
    assert payload["event"]["first_reported"].startswith("2025-07-03")

    new = KnownEvent("Kyrgyzstan", "recognised", "Kyrgyzstan recognises", NOW)
    first = Story(id=2, topic="t", title="Kyrgyzstan recognises", url="", published=NOW,
                  category="recognition_granted", score=1.0, actors=("Kyrgyzstan",),
                  evidence="", sources=(), novelty="first", event=new.as_event())
    assert "First: Kyrgyzstan recognised the Taliban government" in render_text(
        Digest("d2", "n", NOW, (first,)))
    assert story_payload(first)["novelty"] == "first"


# -- end to end: `monitor once` against a loopback feed and webhook ---------------------

def _rss(items: list[tuple[str, str, int]]) -> bytes:
    """items: (guid, title, published this many hours ago)."""
    def stamp(hours: int) -> str:
        return format_datetime(datetime.now(UTC) - timedelta(hours=hours), usegmt=True)

    entries = "".join(f"<item><guid>{guid}</guid><title>{title}</title>"
                      f"<link>https://wire.example/{guid}</link>"
                      f"<pubDate>{stamp(hours)}</pubDate></item>" for guid, title, hours in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
            f"{entries}</channel></rss>").encode()


def _once(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "once"],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_first_and_follow_ups_end_to_end(tmp_path: Path) -> None:
    feed = {"items": [
        ("ru-1", "Russia formally recognises the Taliban government", 20),
        ("kg-1", "Kyrgyzstan accepts the credentials of the Taliban's ambassador", 20),
    ]}
    with LoopbackHTTPServer() as http:
        http.route("/wire.rss", lambda _r: Response(body=_rss(feed["items"]), headers={
            "Content-Type": "application/rss+xml"}))
        http.route("/hook", Response(status=204))
        config = tmp_path / "monitor.toml"
        config.write_text(f"""
[monitor]
database = "{tmp_path / 'monitor.db'}"
min_host_interval = "0s"

[[topics]]
name = "taliban-recognition"
event = "recognition"
entities = ["Taliban"]

[[sources]]
name = "Wire"
url = "{http.url('/wire.rss')}"

[[notifiers]]
name = "hook"
type = "webhook"
url = "{http.url('/hook')}"
""")
        first = _once(config)
        assert first.returncode == 0, first.stderr
        stories = {s["actors"][0]: s for s in json.loads(http.requests_to("/hook")[0].body)[
            "stories"]}
        # Russia's recognition is in the shipped ledger: a follow-up, not "first" again.
        assert stories["Russia"]["novelty"] == "follow_up"
        assert stories["Russia"]["event"]["first_reported"].startswith("2025-07-03")
        assert stories["Kyrgyzstan"]["novelty"] == "first"
        assert stories["Kyrgyzstan"]["event"]["kind"] == "accepted_envoy"

        # Weeks later (the first stories' clock turned back), a new report of Kyrgyzstan's
        # step: past the story window, a story of its own, and a follow-up of the first.
        with sqlite3.connect(tmp_path / "monitor.db") as db:
            db.execute("UPDATE stories SET first_seen = ?",
                       ((datetime.now(UTC) - timedelta(days=20)).isoformat(),))
        feed["items"].append(("kg-2", "Kyrgyz president receives letters of credence from "
                                      "the Taliban envoy in Bishkek", 0))
        second = _once(config)
        assert second.returncode == 0, second.stderr
        hooks = http.requests_to("/hook")
        assert len(hooks) == 2, second.stdout + second.stderr
        (later,) = json.loads(hooks[1].body)["stories"]
        assert later["novelty"] == "follow_up"
        assert later["event"]["first_title"] == ("Kyrgyzstan accepts the credentials of the "
                                                 "Taliban's ambassador")

    listed = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "events",
                             "--json", "--state", "kyrgyzstan"],
                            capture_output=True, text=True, timeout=60, check=True)
    (entry,) = [e for e in json.loads(listed.stdout)["events"] if e["kind"] == "accepted_envoy"]
    assert entry["origin"] == "monitor"
    assert entry["first_story"]["title"].startswith("Kyrgyzstan accepts")
    assert [f["title"][:10] for f in entry["follow_ups"]] == ["Kyrgyz pre"]

    text = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "events"],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    assert "Russia: recognised the Taliban government (recognised)" in text
    assert "shipped: Russian Ministry of Foreign Affairs" in text


# -- the ledger against retention, an upgraded database and two topics ------------------

CHILE = "Chile accepts the credentials of the Taliban's ambassador in Santiago"
CHILE_LATER = "Chilean president receives letters of credence from the Taliban envoy in Santiago"
PERU = "Peru accepts the credentials of the Taliban's ambassador in Lima"
DEBATE = "Diplomats in Doha debate whether to recognise the Taliban government"


def _ledger_app(tmp_path: Path, server: LoopbackHTTPServer, clock: FixedClock,
                topics: tuple[str, ...] = ("taliban-recognition",),
                database: str | None = None) -> App:
    config = load_config_data({
        "monitor": {"database": database or str(tmp_path / "m.db"), "min_host_interval": "0s"},
        "topics": [{"name": name, "event": "recognition", "entities": ["Taliban"]}
                   for name in topics],
        "sources": [{"name": "a", "url": server.url("/a.xml")}],
        "notifiers": [{"name": "n", "type": "file", "path": str(tmp_path / "n.log")}]})
    return build_app(config, clock=clock)


def _feed(*titles: str) -> Response:
    """An undated feed (a first poll alerts it), one item per title."""
    body = "".join(f"<item><guid>{t}</guid><link>https://wire.example/{n}</link>"
                   f"<title>{t}</title></item>" for n, t in enumerate(titles))
    return Response(body=f'<rss version="2.0"><channel><title>W</title>{body}</channel>'
                         f"</rss>".encode())


def _entry(app: App, state: str, kind: str) -> LedgerEntry:
    (entry,) = [e for e in app.store.ledger() if (e.event.state, e.event.kind) == (state, kind)]
    return entry


def test_retention_leaves_the_ledger_its_reports_and_new_stories_out_of_it(
        tmp_path: Path, database: str) -> None:
    """SQLite gives a deleted story's id to the next story: the ledger keeps its own copy
    of each report and forgets the ids retention deleted, so it never names a newcomer."""
    clock = FixedClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with LoopbackHTTPServer() as server:
        app = _ledger_app(tmp_path, server, clock, database=database)
        try:
            source = app.config.sources[0]
            server.route("/a.xml", _feed(CHILE))
            app.pipeline.poll(source)
            clock.advance(timedelta(days=20))      # past the story window: a story of its own
            server.route("/a.xml", _feed(CHILE, CHILE_LATER))
            app.pipeline.poll(source)
            assert app.deliverer.flush_all()[0].sent == 1
            assert [f.title for f in _entry(app, "Chile", "accepted_envoy").follow_ups] == [
                CHILE_LATER]

            clock.advance(timedelta(days=120))
            run_retention(app.store, plan_retention(app.config.monitor.retention, clock()),
                          pause=0)
            assert app.store.matches(datetime(2000, 1, 1, tzinfo=UTC)) == []
            server.route("/a.xml", _feed(PERU, DEBATE))    # new stories take the freed ids
            app.pipeline.poll(source)
            assert {s.title for s in app.store.matches(clock() - timedelta(days=1))} == {
                PERU, DEBATE}

            entry = _entry(app, "Chile", "accepted_envoy")
            assert entry.first is not None and entry.first.title == CHILE
            assert entry.first.story_id is None            # its story is gone
            assert [(f.title, f.story_id) for f in entry.follow_ups] == [(CHILE_LATER, None)]
            shown = format_ledger([entry])
            assert CHILE in shown and CHILE_LATER in shown
            assert PERU not in shown and DEBATE not in shown
        finally:
            app.close()


def _version_5_database(path: Path, stories: list[tuple[str, datetime]]) -> None:
    """A database as version 5 left it (no ledger), with a story per (title, first seen),
    each written as version 5's commit wrote it: its item, its story, their link."""
    with sqlite3.connect(path) as db:
        for number, script in enumerate(MIGRATIONS[:5], 1):
            db.executescript(f"{script}; PRAGMA user_version = {number};")
        for n, (title, seen) in enumerate(stories, 1):
            found = CLASSIFIER.classify(title)
            db.execute("INSERT INTO items (id, source, guid, url, canonical_url, title, "
                       "summary, published, first_seen, alert) VALUES (?, 'a', ?, ?, ?, ?, '', "
                       "NULL, ?, 1)", (n, f"old-{n}", f"https://old.example/{n}",
                                       f"https://old.example/{n}", title, seen.isoformat()))
            db.execute("INSERT INTO stories (id, topic, title, summary, url, published, "
                       "category, score, actors, evidence, rules, first_seen, alert) VALUES "
                       "(?, 'taliban-recognition', ?, '', ?, NULL, ?, ?, ?, ?, ?, ?, 1)",
                       (n, title, f"https://old.example/{n}", found.category, found.score,
                        json.dumps(found.actors), found.evidence, json.dumps(found.rules),
                        seen.isoformat()))
            db.execute("INSERT INTO story_items (story_id, item_id) VALUES (?, ?)", (n, n))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 5


def test_an_upgraded_database_places_its_stories_in_the_ledger(tmp_path: Path) -> None:
    """Stories stored before the ledger existed are placed in it at the first start, in the
    order they were seen: a later report of their step is a follow-up, not "first"."""
    old = datetime(2025, 11, 2, 9, 0, tzinfo=UTC)
    _version_5_database(tmp_path / "m.db", [
        (CHILE, old), (DEBATE, old + timedelta(hours=1)),
        (CHILE_LATER, old + timedelta(days=9)),
        ("Russia formally recognises the Taliban government", old + timedelta(days=10))])
    clock = FixedClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with LoopbackHTTPServer() as server:
        app = _ledger_app(tmp_path, server, clock)
        try:
            stored = {s.title: s for s in app.store.matches(old - timedelta(days=1))}
            assert [(stored[t].novelty, stored[t].event is not None) for t in (
                CHILE, DEBATE, CHILE_LATER, "Russia formally recognises the Taliban "
                "government")] == [("first", True), (None, False), ("follow_up", True),
                                   ("follow_up", True)]
            assert app.store._query("SELECT COUNT(*) FROM stories WHERE novelty = 'pending'"
                                    )[0][0] == 0
            entry = _entry(app, "Chile", "accepted_envoy")
            assert entry.event.origin == "monitor" and entry.event.title == CHILE
            assert entry.first is not None and entry.first.story_id == stored[CHILE].id
            assert [f.title for f in entry.follow_ups] == [CHILE_LATER]
            russia = _entry(app, "Russia", "recognised")
            assert russia.event.origin == "shipped"
            assert [f.title[:6] for f in russia.follow_ups] == ["Russia"]

            server.route("/a.xml", _feed("Chile's foreign minister accepts the credentials "
                                         "of the Taliban's new ambassador"))
            app.pipeline.poll(app.config.sources[0])
            (new,) = app.store.matches(clock() - timedelta(minutes=1))
            assert new.novelty == "follow_up"
            assert new.event is not None and new.event.first_title == CHILE
            ledger = app.store.ledger()
        finally:
            app.close()
        # a second start finds nothing left to place, and changes nothing
        again = _ledger_app(tmp_path, server, clock)
        try:
            assert again.store.ledger() == ledger
            assert [f.title[:12] for f in _entry(again, "Chile", "accepted_envoy").follow_ups
                    ] == ["Chilean pres", "Chile's fore"]
        finally:
            again.close()


def test_a_postgres_database_of_migration_1_places_its_stories_in_the_ledger(
        tmp_path: Path, postgres: str) -> None:
    """PostgreSQL's migration 2 marks the stories stored before the ledger 'pending'; the
    first start places them as SQLite's do (the store's pending_stories and SetNovelty)."""
    import psycopg

    from monitor.store.postgres_schema import MIGRATIONS as PG_MIGRATIONS

    old = datetime(2025, 11, 2, 9, 0, tzinfo=UTC)
    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute(PG_MIGRATIONS[0])
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (1)")
        for n, (title, seen) in enumerate([(CHILE, old),
                                           (CHILE_LATER, old + timedelta(days=9))], 1):
            found = CLASSIFIER.classify(title)
            db.execute("INSERT INTO items (id, source, guid, url, canonical_url, title, "
                       "summary, first_seen, alert) VALUES (%s, 'a', %s, %s, %s, %s, '', %s, "
                       "true)", (n, f"old-{n}", f"https://old.example/{n}",
                                 f"https://old.example/{n}", title, seen))
            db.execute("INSERT INTO stories (id, topic, title, summary, url, category, score, "
                       "actors, evidence, rules, first_seen, alert) VALUES "
                       "(%s, 'taliban-recognition', %s, '', %s, %s, %s, %s, %s, %s, %s, true)",
                       (n, title, f"https://old.example/{n}", found.category, found.score,
                        json.dumps(found.actors), found.evidence, json.dumps(found.rules), seen))
            db.execute("INSERT INTO story_items VALUES (%s, %s)", (n, n))
        db.execute("SELECT setval(pg_get_serial_sequence('stories', 'id'), 2)")
    clock = FixedClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with LoopbackHTTPServer() as server:
        app = _ledger_app(tmp_path, server, clock, database=postgres)
        try:
            stored = {s.title: s for s in app.store.matches(old - timedelta(days=1))}
            assert [stored[t].novelty for t in (CHILE, CHILE_LATER)] == ["first", "follow_up"]
            entry = _entry(app, "Chile", "accepted_envoy")
            assert entry.first is not None and entry.first.story_id == stored[CHILE].id
            assert [f.title for f in entry.follow_ups] == [CHILE_LATER]
        finally:
            app.close()


def test_one_report_in_two_topics_is_first_in_both(tmp_path: Path, database: str) -> None:
    """Two recognition topics share one ledger: the item that opens a story in each is the
    first report in both (a report is never its own follow-up); another report of the step,
    in the same poll or a later one, in either topic, is a follow-up."""
    clock = FixedClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with LoopbackHTTPServer() as server:
        app = _ledger_app(tmp_path, server, clock, topics=("desk", "region"),
                          database=database)
        try:
            server.route("/a.xml", _feed(CHILE))
            app.pipeline.poll(app.config.sources[0])
            opened = app.store.matches(clock() - timedelta(minutes=1))
            assert sorted((s.topic, s.novelty) for s in opened) == [
                ("desk", "first"), ("region", "first")]
            assert {s.event.first_title for s in opened if s.event} == {CHILE}
            entry = _entry(app, "Chile", "accepted_envoy")
            assert entry.first is not None and entry.first.title == CHILE
            assert entry.follow_ups == ()

            clock.advance(timedelta(days=20))
            server.route("/a.xml", _feed(CHILE, CHILE_LATER))
            app.pipeline.poll(app.config.sources[0])
            later = app.store.matches(clock() - timedelta(minutes=1))
            assert sorted((s.topic, s.novelty) for s in later) == [
                ("desk", "follow_up"), ("region", "follow_up")]
            assert [f.title for f in _entry(app, "Chile", "accepted_envoy").follow_ups] == [
                CHILE_LATER, CHILE_LATER]
        finally:
            app.close()


def test_a_newly_shipped_earlier_step_takes_the_place_of_the_monitor_s(
        tmp_path: Path, database: str) -> None:
    """A later version ships a step the monitor had seen first, dated before it: the
    shipped entry is the true first, the monitor's first report becomes a follow-up."""
    clock = FixedClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with LoopbackHTTPServer() as server:
        app = _ledger_app(tmp_path, server, clock, database=database)
        try:
            server.route("/a.xml", _feed(CHILE))
            app.pipeline.poll(app.config.sources[0])
            (story,) = app.store.matches(clock() - timedelta(minutes=1))
            shipped = known_events(json.dumps({"events": [
                {"state": "Chile", "kind": "accepted_envoy", "date": "2025-12-01",
                 "title": "Chile accepts a Taliban ambassador", "source": "Chile's MFA"},
                {"state": "Chile", "kind": "embassy", "date": "2025-12-01",
                 "title": "Chile hands over the embassy", "source": "Chile's MFA"}]}))
            assert settle_ledger(app.store, shipped, clock()) == 0
            entry = _entry(app, "Chile", "accepted_envoy")
            assert (entry.event.origin, entry.event.title, entry.first) == (
                "shipped", "Chile accepts a Taliban ambassador", None)
            assert [(f.story_id, f.title) for f in entry.follow_ups] == [(story.id, CHILE)]
            assert _entry(app, "Chile", "embassy").event.origin == "shipped"
            settle_ledger(app.store, shipped, clock())          # again: nothing changes
            assert _entry(app, "Chile", "accepted_envoy") == entry
        finally:
            app.close()
