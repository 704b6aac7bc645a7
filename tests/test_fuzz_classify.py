"""Fuzz: the classifier and the query grammar take any text without crashing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.classify import build_classifier
from monitor.config import TopicConfig
from monitor.errors import ConfigError
from monitor.query import parse_query
from monitor.types import CATEGORIES

RECOGNITION = build_classifier(TopicConfig(name="t", event="recognition",
                                           entities=("Taliban", "IEA")))
# Words the rules look for, so that fuzzing reaches the rules and not only the prefilter.
WORDS = st.sampled_from([
    "Taliban", "Islamic Emirate", "Kabul", "recognise", "recognition", "not", "will", "ambassador",
    "credentials", "embassy", "Russia", "Moscow's", "UN", "seat", "banned", "list", "ties",
    "upgrade", "facial", "Palestine", "award", "de facto", "refuses", "considering", ",", ".",
    ":", "'", "\u200b", "\x00", "\n", "—", "Талибан", "塔利班", "طالبان",
])
TEXT = st.one_of(st.text(max_size=400), st.lists(WORDS, max_size=40).map(" ".join))


@settings(max_examples=400, deadline=None)
@given(TEXT, TEXT)
def test_classifier_total_on_any_text(title: str, summary: str) -> None:
    verdict = RECOGNITION.classify(title, summary)
    assert verdict.topic == "t"
    assert 0.0 <= verdict.score <= 1.0
    assert verdict.category in (*CATEGORIES, None)
    assert verdict.match == (verdict.category is not None)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=120),
                 st.lists(st.sampled_from(["AND", "OR", "NOT", "(", ")", '"', "title:", "a*",
                                           "b", "-", " "]), max_size=20).map(" ".join)))
def test_query_grammar_parses_or_refuses(text: str) -> None:
    try:
        query = parse_query(text)
    except ConfigError as exc:
        assert str(exc)
        return
    assert query.matches("a b c", "d") in (True, False)
