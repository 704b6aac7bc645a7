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

from monitor.classify import build_classifier
from monitor.classify.gazetteer import find_states
from monitor.config import TopicConfig
from monitor.digest import render_text, story_payload
from monitor.events import (
    EVENT_KINDS,
    KIND_LABELS,
    KnownEvent,
    day_text,
    event_kind,
    known_events,
    plan_event,
)
from monitor.types import Classification, Digest, Story
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
