"""Issue 14, recall on English: the detector holds the figures it reached on our own recall
challenge set (tests/data/recognition_recall.jsonl, see tests/data/README.md), kind by kind,
and stays exact on the dev corpus when it is present."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from monitor.classify import TopicClassifier, build_classifier
from monitor.classify.evaluate import (
    Outcome,
    evaluate_file,
    evaluate_records,
    format_errors,
    read_records,
    score,
)
from monitor.config import TopicConfig
from monitor.types import CATEGORIES

DATA = Path(__file__).resolve().parent / "data" / "recognition_recall.jsonl"
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

# Reached after the fixes of batches 1-6 (the blind first-sight figures are in
# tests/data/README.md; batches 5 and 6 hold the shapes the recall rules over-matched). Per kind:
# how many positives may be missed; no kind may let a negative through. Lower a number when
# the rules get better; never raise one.
MISSED_AT_MOST = {"embassy": 1, "engagement": 2, "envoy": 0, "guideline": 1, "historical": 1,
                  "lead": 0, "metonym": 0, "object": 0, "passive": 0, "sense": 0, "ties": 0,
                  "ttp": 0}
# Per positive category, the category itself must be right this often.
CATEGORY_RECALL_AT_LEAST = {"recognition_granted": 21 / 21, "recognition_step": 94 / 96,
                            "recognition_refused_or_debated": 66 / 70}


@pytest.fixture(scope="module")
def clf() -> TopicClassifier:
    return build_classifier(TopicConfig(name="taliban-recognition", event="recognition",
                                        entities=("Taliban",)))


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return read_records(DATA)


@pytest.fixture(scope="module")
def by_kind(records: list[dict[str, Any]],
            clf: TopicClassifier) -> dict[str, list[Outcome]]:
    report = evaluate_records(records, clf, baselines=False)
    kinds: dict[str, list[Outcome]] = defaultdict(list)
    for record, outcome in zip(records, report.outcomes, strict=True):
        kinds[record["kind"]].append(outcome)
    return kinds


def test_the_set_is_ours_and_balanced(records: list[dict[str, Any]]) -> None:
    """Six batches, each measured blind; about as many hard negatives as positives."""
    assert {r["batch"] for r in records} == {1, 2, 3, 4, 5, 6}
    positives = sum(r["label"] for r in records)
    assert len(records) >= 300
    assert len(records) - positives >= 0.9 * positives
    assert {r["kind"] for r in records} == set(MISSED_AT_MOST)
    assert len({r["id"] for r in records}) == len(records)


def test_precision_and_recall_hold(clf: TopicClassifier) -> None:
    report = evaluate_file(str(DATA), clf)
    overall = score(report.outcomes)
    assert overall.fp == 0, format_errors(report)
    assert overall.recall >= 182 / 187, format_errors(report)


@pytest.mark.parametrize("kind", sorted(MISSED_AT_MOST))
def test_each_kind_holds(by_kind: dict[str, list[Outcome]], kind: str) -> None:
    outcomes = by_kind[kind]
    found = score(outcomes)
    wrong = [f"{o.id} {o.title!r}" for o in outcomes if o.predicted != bool(o.label)]
    assert found.fp == 0, wrong
    assert found.fn <= MISSED_AT_MOST[kind], wrong


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_category_is_named_right(clf: TopicClassifier, category: str) -> None:
    report = evaluate_file(str(DATA), clf)
    gold = [o for o in report.outcomes if o.category == category]
    right = [o for o in gold if o.predicted_category == category]
    assert len(right) / len(gold) >= CATEGORY_RECALL_AT_LEAST[category] - 1e-9, [
        (o.id, o.title, o.predicted_category) for o in gold if o not in right]
    if category != "recognition_refused_or_debated":
        # a grant or a step is never said of a record that is not one
        assert not [o.title for o in report.outcomes
                    if o.predicted_category == category and o.category != category]


def test_dev_corpus_stays_exact(clf: TopicClassifier) -> None:
    """dev.jsonl: every positive found, nothing else, and nothing in the random stream."""
    path = CORPUS / "dev.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not present")
    report = evaluate_file(str(path), clf)
    overall = score(report.outcomes)
    assert (overall.fp, overall.fn) == (0, 0), format_errors(report)
    stream = score(o for o in report.outcomes if o.subset == "stream")
    assert stream.fp == 0
    assert all(o.predicted_category == o.category for o in report.outcomes if o.label)


def test_multilingual_dev_lets_no_more_through(clf: TopicClassifier) -> None:
    """dev_multilingual.jsonl is for precision: no more false positives than before issue 14
    (one, a Chinese story), and none in its stream."""
    path = CORPUS / "dev_multilingual.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not present")
    report = evaluate_file(str(path), clf)
    assert score(report.outcomes).fp <= 1, format_errors(report)
    assert score(o for o in report.outcomes if o.subset == "stream").fp == 0
