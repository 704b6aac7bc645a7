"""Reading the article when the headline is not enough: which items, and what their opening
says (the PURE part: the classifier's signal, the choice of items, the opening's verdict).

Our own sentences; nothing from the corpus.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.article_plan import (
    OPENING_SENTENCES,
    RETRY_FAILED,
    choose,
    opening,
    same_origin,
    settle,
    usable,
)
from monitor.classify import TopicClassifier, build_classifier
from monitor.config import TopicConfig
from monitor.digest import digest_payload, render_html, render_text
from monitor.types import (
    CachedArticle,
    Digest,
    EvidenceSource,
    NewItem,
    NewItemReason,
    ParsedItem,
    Story,
    StorySource,
)


@pytest.fixture(scope="module")
def clf() -> TopicClassifier:
    return build_classifier(TopicConfig(name="taliban-recognition", event="recognition",
                                        entities=("Taliban",)))


@pytest.mark.parametrize(("title", "summary"), [
    ("Taliban delegation lands in Central Asian capital for two days of meetings", ""),
    ("Taliban officials tour a new hospital wing in Herat", "The visit lasted two hours."),
    ("What the Islamic Emirate's new decree means for traders", ""),
    ("Markets reopen after holiday", "Officials of the Taliban government visited the bazaar."),
])
def test_the_entity_without_an_event_is_named(clf: TopicClassifier, title: str,
                                                  summary: str) -> None:
    assert not clf.classify(title, summary).match
    assert clf.names_entity(title, summary)


@pytest.mark.parametrize(("title", "summary"), [
    ("Heavy rain floods farmland in the Po valley", ""),
    ("Pakistani Taliban claim an attack on a checkpoint in Khyber", ""),
    ("Tehreek-e-Taliban Pakistan fighters seize a border post", ""),
    ("Phone makers race to improve facial recognition in low light", ""),
])
def test_texts_without_the_entity_do_not_name_it(clf: TopicClassifier, title: str,
                                                    summary: str) -> None:
    assert not clf.classify(title, summary).match
    assert not clf.names_entity(title, summary)


def test_a_query_only_topic_names_no_entity() -> None:
    topic = build_classifier(TopicConfig(name="q", query="ceasefire AND talks"))
    assert not topic.names_entity("Taliban delegation lands in Tashkent")


def test_evidence_source_says_headline_or_lead(clf: TopicClassifier) -> None:
    assert clf.classify("Ruritania formally recognises the Taliban government"
                        ).evidence_source == "headline"
    assert clf.classify("A quiet day in the capital",
                        "Ruritania formally recognised the Taliban government on Monday."
                        ).evidence_source == "lead"


# -- the alert says where its evidence was read ---------------------------------------------

def _story(evidence_source: EvidenceSource | None) -> Story:
    return Story(id=7, topic="taliban-recognition", title="Taliban delegation lands in Ruritania",
                 url="https://news.example/ruritania", published=None,
                 category="recognition_granted", score=0.85, actors=("Ruritania",),
                 evidence="Ruritania formally recognised the Taliban government on Monday.",
                 sources=(StorySource("Wire", "https://news.example/ruritania",
                                      "Taliban delegation lands in Ruritania", None),),
                 evidence_source=evidence_source)


def test_an_alert_says_its_evidence_comes_from_the_article() -> None:
    digest = Digest("d1", "n", datetime(2025, 7, 3, tzinfo=UTC), (_story("article"),))
    text, html = render_text(digest), render_html(digest)
    assert 'Evidence:  from the article: "Ruritania formally recognised' in text
    assert "From the article:" in html
    story = digest_payload(digest, datetime(2025, 7, 3, tzinfo=UTC))["stories"][0]
    assert story["evidence_source"] == "article"
    assert story["evidence"].startswith("Ruritania formally recognised")


@pytest.mark.parametrize("where", ["headline", "lead", None])
def test_other_evidence_is_not_said_to_come_from_an_article(
        where: EvidenceSource | None) -> None:
    digest = Digest("d1", "n", datetime(2025, 7, 3, tzinfo=UTC), (_story(where),))
    assert "from the article" not in render_text(digest).lower()
    assert "from the article" not in render_html(digest).lower()
    story = digest_payload(digest, datetime(2025, 7, 3, tzinfo=UTC))["stories"][0]
    assert story["evidence_source"] == where


# -- which items ---------------------------------------------------------------------------

def _new(url: str, reason: NewItemReason = "new", title: str = "t") -> NewItem:
    return NewItem(ParsedItem(guid=url, url=url, title=title), canonical_url=url, reason=reason)


ITEMS = (_new("https://a.example/1"), _new("https://a.example/2"),
         _new("https://a.example/3", reason="old"), _new("https://a.example/4", "duplicate"),
         _new("mailto:desk@a.example"))
MISSES = [(0, "t"), (1, "t"), (2, "t"), (3, "t"), (4, "t")]


def test_candidates_are_the_items_that_name_the_entity() -> None:
    chosen = choose("candidates", False, ITEMS, MISSES, lambda i, _t: i in (1, 2, 3))
    # 2 is too old to alert; 3 is a copy of another source's article (it may join a story)
    assert [r.item for r in chosen] == [1, 3]
    assert chosen[0].url == chosen[0].key == "https://a.example/2"


def test_every_item_of_a_page_source_is_a_candidate() -> None:
    chosen = choose("candidates", True, ITEMS, MISSES, lambda _i, _t: False)
    assert [r.item for r in chosen] == [0, 1, 3]


def test_all_and_never() -> None:
    assert [r.item for r in choose("all", False, ITEMS, MISSES, lambda _i, _t: False)] \
        == [0, 1, 3]
    assert choose("never", True, ITEMS, MISSES, lambda _i, _t: True) == []


def test_one_request_per_item_for_the_topics_it_missed() -> None:
    chosen = choose("all", False, ITEMS, [(0, "a"), (0, "b"), (1, "b")], lambda *_: True)
    assert [(r.item, r.topics) for r in chosen] == [(0, ("a", "b")), (1, ("b",))]


def test_a_failed_read_is_tried_again_after_a_while() -> None:
    now = datetime(2025, 7, 3, 12, tzinfo=UTC)
    assert not usable(None, now)
    assert usable(CachedArticle("u", now - timedelta(days=30), "text"), now)
    failed = CachedArticle("u", now - timedelta(minutes=10), error="FetchError: HTTP 503")
    assert usable(failed, now)
    assert not usable(replace(failed, fetched_at=now - RETRY_FAILED), now)


def test_same_origin() -> None:
    assert same_origin("https://A.example/x", "https://a.example:443/feed")
    assert not same_origin("http://a.example/x", "https://a.example/feed")
    assert not same_origin("http://127.0.0.1:81/x", "http://127.0.0.1:82/feed")


# -- what the article's opening settles ----------------------------------------------------

def test_the_opening_skips_the_headline_and_stops_after_a_few_sentences() -> None:
    text = ("Taliban delegation lands in Ruritania\n"
            "First sentence here. Second one follows.\n"
            "Third sentence. Fourth. Fifth sentence now. Sixth one. Seventh is left out.")
    lines = opening(text, "Taliban delegation lands in Ruritania").splitlines()
    assert lines[0] == "First sentence here."
    assert len(lines) == OPENING_SENTENCES and "Seventh" not in " ".join(lines)


def test_an_opening_that_says_the_event_settles_it(clf: TopicClassifier) -> None:
    text = ("The two delegations met for three hours on Tuesday.\nNothing else was said.\n"
            "Photographs showed a signing table.\n"
            "Ruritania formally recognised the Taliban government at the end of the visit.")
    found = settle("Taliban delegation lands in Ruritania", text, ["taliban-recognition"],
                   {"taliban-recognition": clf})
    assert len(found) == 1
    verdict = found[0]
    assert verdict.category == "recognition_granted"
    assert verdict.evidence.startswith("Ruritania formally recognised")
    assert verdict.evidence_source == "article" and "where:article" in verdict.rules


def test_an_opening_about_something_else_settles_nothing(clf: TopicClassifier) -> None:
    text = "The delegation toured a hospital.\nTrade figures were discussed at length."
    assert settle("Taliban delegation lands in Ruritania", text, ["taliban-recognition"],
                  {"taliban-recognition": clf}) == []
