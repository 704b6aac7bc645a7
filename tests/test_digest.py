"""Digest rendering: what each story shows, escaping of hostile feed text, the JSON body."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.digest import (
    SUBJECT_LIMIT,
    TEXT_LIMIT,
    TITLE_LIMIT,
    clean_text,
    digest_payload,
    one_line,
    render_html,
    render_subject,
    render_text,
)
from monitor.notify.webhook import discord_body, slack_body
from monitor.parse.sanitize import MAX_TITLE, clean_summary, clean_title
from monitor.text import one_line as text_line
from monitor.types import Digest, Story, StorySource

WHEN = datetime(2025, 7, 3, 12, 30, tzinfo=UTC)
SENT = datetime(2025, 7, 3, 13, 0, tzinfo=UTC)
HOSTILE_TITLES = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "Bad\r\nBcc: victim@example.org",
    "javascript:alert(3)",
)


def make_story(story_id: int = 7, **changes: object) -> Story:
    story = Story(
        id=story_id,
        topic="taliban-recognition",
        title="Ruritania opens talks on seating an envoy from Kabul",
        url="https://wire-one.example/world/ruritania-envoy",
        published=WHEN,
        category="recognition_step",
        score=0.82,
        actors=("Ruritania",),
        evidence="Ruritania's foreign ministry said it would accept the envoy's papers.",
        sources=(
            StorySource("Wire One", "https://wire-one.example/world/ruritania-envoy",
                        "Ruritania opens talks on seating an envoy from Kabul", WHEN),
            StorySource("Daily Two", "https://daily-two.example/a/123",
                        "Ruritania to accept Kabul envoy", WHEN + timedelta(minutes=20)),
        ),
    )
    return replace(story, **changes)


def make_digest(*stories: Story, kind: str = "stories", text: str = "") -> Digest:
    return Digest(id="desk-email-000042", notifier="desk-email", created_at=SENT,
                  stories=tuple(stories), kind=kind, text=text)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


def parse_html(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_text_shows_every_field_of_each_story() -> None:
    story = make_story()
    other = make_story(8, title="Second story about a consulate handover",
                       category="recognition_granted", evidence="The consulate was handed over.")
    text = render_text(make_digest(story, other))
    for expected in (story.title, story.url, "Wire One", "Daily Two", "2025-07-03 12:30 UTC",
                     "Recognition step", story.evidence, other.title, "Recognition granted",
                     other.evidence, "Ruritania"):
        assert expected in text
    assert text.index(story.title) < text.index(other.title)


def test_html_shows_every_field_and_links_the_story() -> None:
    story = make_story()
    html = render_html(make_digest(story))
    for expected in ("Ruritania opens talks on seating an envoy from Kabul", "Wire One",
                     "Daily Two", "2025-07-03 12:30 UTC", "Recognition step",
                     "Ruritania&#39;s foreign ministry said it would accept the envoy&#39;s"):
        assert expected in html
    hrefs = [value for name, value in parse_html(html).attrs if name == "href"]
    assert story.url in hrefs


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_titles_and_sources_are_escaped_in_html(title: str) -> None:
    story = make_story(title=title, evidence=f"quoted: {title}", actors=(title,),
                       sources=(StorySource(title, "https://x.example/1", title, None),))
    html = render_html(make_digest(story))
    parsed = parse_html(html)
    assert "script" not in parsed.tags
    assert "img" not in parsed.tags
    assert not any(name.startswith("on") for name, _ in parsed.attrs)
    assert "<script>" not in html and "<img" not in html
    if "<" in title:
        assert "&lt;" in html


def test_non_http_links_never_become_hrefs() -> None:
    story = make_story(url="javascript:alert(1)",
                       sources=(StorySource("Wire", "data:text/html,<b>x</b>", "t", None),
                                StorySource("Wire 2", "https://ok.example/", "t2", None)))
    parsed = parse_html(render_html(make_digest(story)))
    hrefs = [value or "" for name, value in parsed.attrs if name == "href"]
    assert hrefs == ["https://ok.example/"]


def test_subject_is_one_capped_line_without_cr_lf() -> None:
    story = make_story(title="Line one\r\nBcc: someone@example.org\u2028" + "x" * 500)
    subject = render_subject(make_digest(story))
    assert "\r" not in subject and "\n" not in subject and "\u2028" not in subject
    assert len(subject) <= SUBJECT_LIMIT
    assert subject.startswith("[news-monitor] Recognition step: Line one Bcc:")


def test_subject_counts_stories() -> None:
    subject = render_subject(make_digest(make_story(1), make_story(2), make_story(3)))
    assert "3 stories" in subject and "(+2 more)" in subject


def test_control_characters_are_removed_from_text() -> None:
    story = make_story(title="Envoy\x00 named\x1b[31m", evidence="First\x07 line\r\nsecond line")
    text = render_text(make_digest(story))
    assert "\x00" not in text and "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "Envoy named[31m" in text     # removed, as the parser removes them


def test_health_and_test_digests_render_their_text() -> None:
    health = make_digest(kind="health",
                         text="Source 'Wire One' failing for 6h\nlast error: HTTP 503")
    assert "Source health" in render_subject(health)
    assert "last error: HTTP 503" in render_text(health)
    assert "last error: HTTP 503" in render_html(health)
    test = make_digest(kind="test")
    assert "Test message" in render_subject(test)
    assert "desk-email" in render_text(test) and "desk-email" in render_html(test)
    assert "No new stories" not in render_text(test)


def test_payload_keeps_the_contract_keys() -> None:
    story = make_story()
    payload = digest_payload(make_digest(story), SENT)
    assert {"id", "notifier", "sent_at", "stories"} <= payload.keys()
    assert payload["id"] == "desk-email-000042"
    assert payload["notifier"] == "desk-email"
    assert payload["sent_at"] == "2025-07-03T13:00:00Z"
    (body,) = payload["stories"]
    assert {"id", "topic", "title", "url", "sources", "published", "category", "score",
            "actors", "evidence"} <= body.keys()
    assert body["id"] == 7
    assert body["sources"] == ["Wire One", "Daily Two"]
    assert body["published"] == "2025-07-03T12:30:00Z"
    assert body["category"] == "recognition_step"
    assert body["score"] == pytest.approx(0.82)
    assert body["actors"] == ["Ruritania"]
    assert body["evidence"] == story.evidence
    assert [o["url"] for o in body["outlets"]] == [s.url for s in story.sources]
    assert json.loads(json.dumps(payload)) == payload


def test_payload_timestamps_are_utc() -> None:
    plus_four = timezone(timedelta(hours=4))
    story = make_story(published=datetime(2025, 7, 3, 16, 30, tzinfo=plus_four))
    payload = digest_payload(make_digest(story), datetime(2025, 7, 3, 17, 0, tzinfo=plus_four))
    assert payload["sent_at"] == "2025-07-03T13:00:00Z"
    assert payload["stories"][0]["published"] == "2025-07-03T12:30:00Z"
    assert digest_payload(make_digest(make_story(published=None)), SENT)[
        "stories"][0]["published"] is None


def test_rendering_is_deterministic() -> None:
    digest = make_digest(make_story(), make_story(9))
    assert render_html(digest) == render_html(digest)
    assert render_text(digest) == render_text(digest)
    assert digest_payload(digest, SENT) == digest_payload(digest, SENT)


@given(st.text(), st.integers(min_value=2, max_value=300))
def test_one_line_is_single_line_and_capped(text: str, limit: int) -> None:
    line = one_line(text, limit)
    assert len(line) <= limit
    assert not any(c in line for c in "\r\n\x00\x0b\x0c\x85\u2028\u2029")


@given(st.text(), st.sampled_from([1, 50, TITLE_LIMIT]))
def test_alerts_and_the_parser_make_one_line_by_one_rule(text: str, limit: int) -> None:
    """A title is cleaned once by the parser and again when an alert shows it: the same
    rule, so the second changes nothing."""
    assert one_line(text, MAX_TITLE) == clean_title(text)
    assert one_line(text, limit) == text_line(text, limit)
    stored = clean_title(text)
    assert one_line(stored) == stored


_OLD_ALERT_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@given(st.text(), st.sampled_from([2, 50, TITLE_LIMIT, TEXT_LIMIT]))
def test_a_stored_title_or_summary_shows_as_the_alerts_line_always_did(text: str,
                                                                    limit: int) -> None:
    """The alert's cleaner before it became the parser's one (controls became spaces),
    as a reference: what the parser stored shows exactly as it did."""
    for stored in (clean_title(text), clean_summary(text, is_html=False)):
        before = " ".join(_OLD_ALERT_CONTROLS.sub(" ", stored).split())
        before = before if len(before) <= limit else before[:limit - 1].rstrip() + "…"
        assert one_line(stored, limit) == before


@given(st.text())
def test_clean_text_keeps_no_control_but_newline(text: str) -> None:
    cleaned = clean_text(text, 5000)
    assert all(c == "\n" or (ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F) for c in cleaned)


def test_unsafe_digest_ids_are_made_header_safe() -> None:
    digest = replace(make_digest(make_story()), id="desk email\r\n<42>")
    payload_id = digest_payload(digest, SENT)["id"]
    assert payload_id == "desk-email---42-"
    assert payload_id in render_text(digest)
    assert digest_payload(make_digest(make_story()), SENT)["id"] == "desk-email-000042"


@pytest.mark.parametrize("category,unknown", [
    ("recognition_granted", True), ("recognition_step", True),
    ("recognition_refused_or_debated", False),
])
def test_a_grant_or_step_by_no_named_state_says_the_actor_is_unknown(category: str,
                                                                     unknown: bool) -> None:
    story = make_story(actors=(), category=category)
    digest = make_digest(story)
    said = "unknown (a state the detector cannot name)"
    assert (said in render_text(digest)) is unknown
    assert (said in render_html(digest)) is unknown
    payload = digest_payload(digest, SENT)["stories"][0]
    assert payload["actors"] == []
    assert payload["actor_unknown"] is unknown
    slack = json.dumps(slack_body(digest), ensure_ascii=False)
    discord = json.dumps(discord_body(digest), ensure_ascii=False)
    assert (said in slack) is unknown
    assert (said in discord) is unknown
    named = make_digest(make_story(category=category))
    assert said not in render_text(named)
    assert digest_payload(named, SENT)["stories"][0]["actor_unknown"] is False


# ---- context: the lead, clean links, the reader's time zone ----------------------------------

LONG_SUMMARY = (
    "Ruritania opens talks on seating an envoy from Kabul. "
    "The foreign ministry in Strelsau said on Thursday that officials would meet a delegation "
    "next week to discuss the papers of the envoy named by the Taliban. "
    "Diplomats said the decision followed months of quiet contacts through a third country. "
    "Opposition deputies criticised the move and asked for a vote in parliament before any "
    "envoy is seated, a demand the government has so far turned down.")


def test_the_lead_is_the_summary_without_the_headline_cut_at_a_sentence() -> None:
    view_text = render_text(make_digest(make_story(summary=LONG_SUMMARY)))
    lead_line = next(line for line in view_text.splitlines() if "Lead:" in line)
    lead = lead_line.split("Lead:", 1)[1].strip()
    assert lead.startswith("The foreign ministry in Strelsau said on Thursday")
    assert lead.endswith("through a third country.")     # a whole sentence, not a cut word
    assert 100 < len(lead) <= 300
    assert "Opposition deputies" not in lead
    assert lead in render_html(make_digest(make_story(summary=LONG_SUMMARY)))
    payload = digest_payload(make_digest(make_story(summary=LONG_SUMMARY)), SENT)
    assert payload["stories"][0]["lead"] == lead


def test_the_lead_is_cleaned_and_a_headline_only_summary_gives_none() -> None:
    dirty = "Line one of\r\n the \x00standfirst.\u2028 Second\tsentence here."
    story = make_story(summary=dirty)
    assert digest_payload(make_digest(story), SENT)["stories"][0]["lead"] == (
        "Line one of the standfirst. Second sentence here.")
    same = make_story(summary="Ruritania opens talks on seating an envoy from Kabul.")
    assert digest_payload(make_digest(same), SENT)["stories"][0]["lead"] == ""
    assert "Lead:" not in render_text(make_digest(same))


def test_one_long_sentence_is_cut_at_a_word_with_an_ellipsis() -> None:
    sentence = "An envoy " + "and a deputy " * 40 + "arrived."
    lead = digest_payload(make_digest(make_story(summary=sentence)), SENT)["stories"][0]["lead"]
    assert lead.endswith("…") and len(lead) <= 300 and not lead.endswith(" …")
    assert lead[:-1].split()[-1] in ("an", "and", "a", "deputy", "envoy", "An")


def test_the_headline_is_not_repeated_as_evidence() -> None:
    title = "Ruritania accepts the credentials of the Taliban envoy"
    story = make_story(title=title, evidence=title, summary=LONG_SUMMARY)
    text = render_text(make_digest(story))
    assert text.count(title) == 2            # the subject line and the story's heading
    assert "Evidence:" not in text and "Lead:" in text
    assert "<blockquote" not in render_html(make_digest(story))
    assert json.dumps(slack_body(make_digest(story))["blocks"][1:]).count(title) == 1
    # the JSON body keeps the evidence for programs
    assert digest_payload(make_digest(story), SENT)["stories"][0]["evidence"] == title
    # evidence from the summary adds something: it is shown
    other = make_story(summary=LONG_SUMMARY)
    assert 'Evidence:  "Ruritania\'s foreign ministry' in render_text(make_digest(other))


def test_links_drop_tracking_parameters_and_keep_the_rest() -> None:
    tracked = "https://wire-one.example/world/envoy?id=42&utm_source=rss&utm_medium=feed&fbclid=x1#top"
    source = StorySource("Wire One", "https://daily-two.example/a/9?utm_campaign=c&page=2",
                         "t", WHEN)
    story = make_story(url=tracked, sources=(make_story().sources[0], source))
    text = render_text(make_digest(story))
    html = render_html(make_digest(story))
    payload = digest_payload(make_digest(story), SENT)["stories"][0]
    for rendered in (text, html, json.dumps(payload), json.dumps(slack_body(make_digest(story))),
                     json.dumps(discord_body(make_digest(story)))):
        assert "utm_" not in rendered and "fbclid" not in rendered
    assert payload["url"] == "https://wire-one.example/world/envoy?id=42#top"
    assert payload["outlets"][1]["url"] == "https://daily-two.example/a/9?page=2"
    assert 'href="https://wire-one.example/world/envoy?id=42#top"' in html


@pytest.mark.parametrize("url, sent", [
    # Names that only share a tracker family's prefix may be what the page needs.
    ("https://paper.example/a?pk_id=42", "https://paper.example/a?pk_id=42"),
    ("https://paper.example/a?at_id=7&mc_id=1", "https://paper.example/a?at_id=7&mc_id=1"),
    ("https://paper.example/a?pk_campaign=x&mc_cid=y&id=3", "https://paper.example/a?id=3"),
    # A "?" in the fragment is the fragment's (hash-routed pages).
    ("https://paper.example/a#/story?utm_source=x", "https://paper.example/a#/story?utm_source=x"),
    ("https://paper.example/a?utm_source=x#/story?id=1", "https://paper.example/a#/story?id=1"),
])
def test_only_trackers_leave_a_link(url: str, sent: str) -> None:
    from monitor.urls import without_tracking

    assert without_tracking(url) == sent


def test_times_in_the_notifiers_time_zone() -> None:
    from zoneinfo import ZoneInfo

    from monitor.digest import DigestRenderer

    paris = DigestRenderer(ZoneInfo("Europe/Paris"))
    text = paris.text(make_digest(make_story()))
    assert "Published: 2025-07-03 14:30 CEST" in text and "12:30 UTC" not in text
    assert "2025-07-03 15:00 CEST" in text                # the footer's "created"
    assert "14:30 CEST" in paris.html(make_digest(make_story()))
    assert "14:30 CEST" in json.dumps(slack_body(make_digest(make_story()),
                                                 ZoneInfo("Europe/Paris")))
    # the default stays UTC; the JSON body is UTC whatever the zone
    assert "Published: 2025-07-03 12:30 UTC" in render_text(make_digest(make_story()))
    assert digest_payload(make_digest(make_story()), SENT)["stories"][0]["published"] == (
        "2025-07-03T12:30:00Z")
