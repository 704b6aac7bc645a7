"""The boolean query grammar: its documented examples run, and bad queries are refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.classify import build_classifier
from monitor.config import TopicConfig
from monitor.errors import ConfigError
from monitor.query import parse_query

DOC = Path(__file__).resolve().parents[1] / "docs" / "queries.md"


def _examples() -> list[list[str]]:
    blocks = re.findall(r"```example\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    return [[line for line in block.splitlines() if line.strip()] for block in blocks]


def _split(line: str) -> tuple[str, str]:
    title, _, summary = line.partition(" || ")
    return title, summary


def test_the_doc_has_examples_of_both_kinds() -> None:
    kinds = {block[0].split(":")[0] for block in _examples()}
    assert kinds == {"query", "error"}
    assert len(_examples()) >= 8


@pytest.mark.parametrize("block", [b for b in _examples() if b[0].startswith("query:")],
                         ids=lambda b: b[0])
def test_documented_query_examples(block: list[str]) -> None:
    query = parse_query(block[0].removeprefix("query:").strip())
    checked = 0
    for line in block[1:]:
        kind, _, text = line.partition(":")
        title, summary = _split(text.strip())
        assert kind in ("match", "no match"), line
        assert query.matches(title, summary) is (kind == "match"), line
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize("block", [b for b in _examples() if b[0].startswith("error:")],
                         ids=lambda b: b[0])
def test_documented_errors(block: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_query(block[0].removeprefix("error:").strip())
    assert block[1].strip() in str(caught.value)


@pytest.mark.parametrize(("query", "title", "expected"), [
    ("taliban", "TALIBAN leaders meet", True),
    ("ban", "Taliban leaders meet", False),
    ("recogni*", "Calls for recognition grow", True),
    ("recogni*", "Recognised at last", True),
    ("recogni*", "Unrecognised state", False),
    ('"diplomatic ties"', "Diplomatic  ties restored", True),
    ('"diplomatic ties"', "Ties, diplomatic and other", False),
    ('"Islamic Emirate"', "islamic emirate, said a spokesman", True),
    ("a OR b c", "a", True),            # OR binds looser than the implied AND
    ("a OR b c", "b", False),
    ("(a OR b) c", "a", False),
    ("(a OR b) c", "b c", True),
    ("NOT a b", "b", True),
    ("NOT a b", "a b", False),
    ("-a b", "a b", False),
    ("NOT NOT a", "a", True),
    ("x and y", "x y and", True),        # lower-case operators are words
    ("x and y", "x y", False),
])
def test_semantics(query: str, title: str, expected: bool) -> None:
    assert parse_query(query).matches(title) is expected


def test_fields_pick_the_part_of_the_item() -> None:
    query = parse_query('title:envoy summary:(credentials OR "letter of credence")')
    assert query.matches("Envoy arrives", "He presented his letter of credence")
    assert not query.matches("Envoy arrives", "He toured the city")
    assert not query.matches("Credentials presented", "by the new envoy")
    assert parse_query("text:envoy").matches("", "an envoy came")
    assert parse_query("title: envoy").matches("Envoy arrives")  # a space after ":" is fine


@pytest.mark.parametrize(("query", "message"), [
    ("", "empty"),
    ("   ", "empty"),
    ("a OR", "position 5"),
    ("a AND OR b", "position 7"),
    ("(a", 'expected ")"'),
    ("a)", "position 2"),
    ("()", "inside the parentheses"),
    ('"a', "unterminated"),
    ('""', "empty quoted phrase"),
    ("*", "lone"),
    ("body:a", "unknown field 'body'"),
    ("title:", "position 7: expected a word, a quoted phrase or \"(\" after title:"),
    ("title:)", "after title:"),
])
def test_bad_queries_are_refused_with_position(query: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_query(query)
    assert message in str(caught.value)


def test_a_bad_topic_query_names_the_topic() -> None:
    # model_construct skips the config's own validation, as a topic built in code would
    topic = TopicConfig.model_construct(name="embassies", event=None, entities=(),
                                        query="embassy (Kabul")
    with pytest.raises(ConfigError, match="'embassies'.*position 9"):
        build_classifier(topic)


def test_query_topic_classifies() -> None:
    clf = build_classifier(TopicConfig(name="q", query='Kabul AND "embassy"'))
    hit = clf.classify("Embassy reopens in Kabul")
    assert hit.match and hit.topic == "q" and hit.category is None and hit.score == 1.0
    assert not clf.classify("Embassy reopens in Doha").match


def test_event_and_query_must_both_hold() -> None:
    clf = build_classifier(TopicConfig(name="both", event="recognition", query="NOT title:Iran"))
    assert clf.classify("Russia recognises the Taliban government").match
    assert not clf.classify("Iran recognises the Taliban government").match
    assert not clf.classify("Russia bans Taliban music").match


@pytest.mark.parametrize("query, title", [
    ("islam*", "İslamic Emirate envoy"),            # Turkish capital I
    ("café", "Cafe\u0301 owners protest"),           # decomposed accent
    ('"strasse"', "STRASSE closed"),
    ("straße", "Strasse closed"),
])
def test_unicode_forms_and_case_match(query: str, title: str) -> None:
    assert parse_query(query).matches(title)
