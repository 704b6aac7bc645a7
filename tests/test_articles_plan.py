"""Reading the article when the headline is not enough: which items, and what their opening
says (the PURE part: the classifier's signal, the choice of items, the opening's verdict).

Our own sentences; nothing from the corpus.
"""

from __future__ import annotations

import pytest

from monitor.classify import TopicClassifier, build_classifier
from monitor.config import TopicConfig


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
