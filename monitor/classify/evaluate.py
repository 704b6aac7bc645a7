"""Measure a classifier on labelled records (JSON lines with title, summary, label).

``evaluate_records`` is pure; ``evaluate_file`` reads the file. ``format_report`` prints
precision, recall and F1 for the classifier and, side by side, the two keyword baselines of
issue 3; the confusion by category; the same without ``unsure`` records; and false-positive
rates on the ``stream`` subset and on the ``unrelated`` + ``recognition_other_*`` records.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.classify import TopicClassifier, build_classifier
from monitor.config import TopicConfig
from monitor.errors import ConfigError
from monitor.types import CATEGORIES

# The two keyword alerts of issue 3, written in our own query grammar.
BASELINES: tuple[tuple[str, str], ...] = (
    ("keyword: Taliban/Afghan + recogni*",
     "(Taliban OR Afghan* OR Kabul OR \"Islamic Emirate\") AND recogni*"),
    ("keyword: + any diplomatic word",
     "(Taliban OR Afghan* OR Kabul OR \"Islamic Emirate\") AND (recogni* OR ambassador* OR "
     "embass* OR envoy* OR diplomat* OR credential* OR charg* OR accredit*)"),
)
NEGATIVE_SETS = ("unrelated", "recognition_other_state", "recognition_other_sense")


@dataclass(frozen=True)
class Scores:
    """Confusion counts of one classifier on one set of records."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def fp_rate(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0


@dataclass(frozen=True)
class Outcome:
    """One record's gold label and one prediction."""

    id: str
    title: str
    label: int
    category: str
    unsure: bool
    subset: str
    predicted: bool
    predicted_category: str | None
    evidence: str = ""
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    """Everything format_report prints."""

    path: str
    outcomes: tuple[Outcome, ...]
    baselines: Mapping[str, tuple[Outcome, ...]] = field(default_factory=dict)

    def errors(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.predicted != bool(o.label))


def score(outcomes: Iterable[Outcome]) -> Scores:
    counts = Counter((o.label == 1, o.predicted) for o in outcomes)
    return Scores(tp=counts[(True, True)], fp=counts[(False, True)],
                  fn=counts[(True, False)], tn=counts[(False, False)])


def _outcome(record: Mapping[str, Any], clf: TopicClassifier) -> Outcome:
    result = clf.classify(record.get("title") or "", record.get("summary") or "")
    return Outcome(id=str(record.get("id", "")), title=record.get("title") or "",
                   label=int(record["label"]), category=record.get("category") or "?",
                   unsure=bool(record.get("unsure")), subset=record.get("subset") or "",
                   predicted=result.match, predicted_category=result.category,
                   evidence=result.evidence, rules=result.rules)


def evaluate_records(records: Iterable[Mapping[str, Any]], clf: TopicClassifier, *,
                     path: str = "", baselines: bool = True) -> Report:
    """Classify labelled records; with ``baselines``, also run the two keyword alerts."""
    rows = [r for r in records if "label" in r]
    outcomes = tuple(_outcome(r, clf) for r in rows)
    extra: dict[str, tuple[Outcome, ...]] = {}
    if baselines:
        for name, query in BASELINES:
            base = build_classifier(TopicConfig(name="baseline", query=query))
            extra[name] = tuple(_outcome(r, base) for r in rows)
    return Report(path=path, outcomes=outcomes, baselines=extra)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The file's records; a ConfigError names the file and line of the first bad one."""
    records = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    records.append(_record(line, f"{path}:{number}"))
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    return records


def _record(line: str, where: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not JSON: {exc.msg}") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{where}: expected a JSON object "
                          '{"id", "title", "summary", "label"}, got ' + type(record).__name__)
    if "label" in record and record["label"] not in (0, 1):
        raise ConfigError(f"{where}: label must be 0 or 1, got {record['label']!r}")
    for key in ("title", "summary", "category", "subset"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise ConfigError(f"{where}: {key} must be a string")
    return record


def evaluate_file(path: str, clf: TopicClassifier) -> Report:
    """Evaluate ``clf`` on a JSON-lines file of records carrying ``label`` (0/1)."""
    return evaluate_records(read_records(path), clf, path=str(path))


def _row(name: str, s: Scores) -> str:
    return (f"{name:<40} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f}"
            f"  {s.tp:4d} {s.fp:5d} {s.fn:4d}")


def format_report(report: Report) -> str:
    """A plain-text report: P/R/F1 side by side with the baselines, confusion, FP rates."""
    runs: dict[str, tuple[Outcome, ...]] = {"classifier": report.outcomes, **report.baselines}
    lines = [f"records: {len(report.outcomes)}  positives: "
             f"{sum(o.label for o in report.outcomes)}  ({report.path or 'records'})", ""]
    header = f"{'':<40} {'P':>6} {'R':>6} {'F1':>6}  {'TP':>4} {'FP':>5} {'FN':>4}"
    lines += ["all records", header]
    lines += [_row(name, score(outs)) for name, outs in runs.items()]
    lines += ["", "without unsure records", header]
    lines += [_row(name, score(o for o in outs if not o.unsure)) for name, outs in runs.items()]

    lines += ["", "false-positive rate", f"{'':<40} {'stream':>16} {'unrelated+other_*':>20}"]
    for name, outs in runs.items():
        stream = score(o for o in outs if o.subset == "stream")
        negatives = score(o for o in outs if o.category in NEGATIVE_SETS)
        lines.append(f"{name:<40} {stream.fp_rate:7.2%} ({stream.fp:3d}/{stream.fp + stream.tn:4d})"
                     f" {negatives.fp_rate:9.2%} ({negatives.fp:3d}/"
                     f"{negatives.fp + negatives.tn:4d})")

    lines += ["", "recall by positive category (classifier; baselines)"]
    for category in CATEGORIES:
        parts = []
        for outs in runs.values():
            s = score(o for o in outs if o.category == category)
            parts.append(f"{s.recall:5.2f} ({s.tp}/{s.tp + s.fn})")
        lines.append(f"  {category:<34} " + "   ".join(parts))

    predicted_names = (*CATEGORIES, "no match")
    short = {"recognition_granted": "granted", "recognition_step": "step",
             "recognition_refused_or_debated": "refused/deb", "no match": "no match"}
    lines += ["", "confusion (rows: gold category, columns: classifier's category)",
              f"  {'':<34}" + "".join(f"{short[n]:>12}" for n in predicted_names)]
    gold_order = [*CATEGORIES, "taliban_other", *NEGATIVE_SETS[1:], "unrelated"]
    gold_seen = sorted({o.category for o in report.outcomes},
                       key=lambda c: gold_order.index(c) if c in gold_order else 99)
    for gold in gold_seen:
        counts = Counter(o.predicted_category if o.predicted else "no match"
                         for o in report.outcomes if o.category == gold)
        lines.append(f"  {gold:<34}" + "".join(f"{counts.get(n, 0):>12}"
                                               for n in predicted_names))
    return "\n".join(lines)


def format_errors(report: Report) -> str:
    """One line per misclassified record: FP/FN, gold category, title, rules that fired."""
    lines = []
    for o in report.errors():
        kind = "FN" if o.label else "FP"
        lines.append(f"{kind} {o.category:<32} {'unsure ' if o.unsure else ''}{o.id}  "
                     f"{o.title[:110]!r}  {','.join(o.rules)}")
    return "\n".join(lines)
