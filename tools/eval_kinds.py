"""Precision, recall and F1 of the recognition detector per record kind and per gold category,
for a labelled file whose records carry ``kind`` (and optionally ``batch``), such as
``tests/data/recognition_recall.jsonl``.

    python tools/eval_kinds.py tests/data/recognition_recall.jsonl [--batch N] [--errors]

Run it from the repository root. It uses the first topic of the shipped config
(``config/monitor.toml``), as ``monitor eval`` does there. Per kind, a record counts as a true
positive when its label is 1 and the detector matches (the binary decision ``monitor eval``
scores). Per category, the category must also be the gold one: precision is over the records
the detector put in that category.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.classify import build_classifier  # noqa: E402
from monitor.classify.evaluate import (  # noqa: E402
    Outcome,
    Scores,
    evaluate_records,
    format_errors,
    read_records,
    score,
)
from monitor.config import load_config  # noqa: E402
from monitor.types import CATEGORIES  # noqa: E402


def _figure(value: float, defined: bool) -> str:
    return f"{value:6.3f}" if defined else f"{'-':>6}"


def _row(name: str, s: Scores) -> str:
    """One line of figures; "-" where a figure has nothing to count (a kind of negatives
    only has no recall: its FP column is what counts)."""
    return (f"  {name:<32} {_figure(s.precision, s.tp + s.fp > 0)} "
            f"{_figure(s.recall, s.tp + s.fn > 0)} {_figure(s.f1, s.tp + s.fn > 0)}"
            f"  {s.tp:4d} {s.fp:4d} {s.fn:4d} {s.tn:4d}")


def by_category(outcomes: list[Outcome], category: str) -> Scores:
    """Scores for one positive category: the prediction must name that category."""
    tp = sum(1 for o in outcomes if o.category == category and o.predicted_category == category)
    fp = sum(1 for o in outcomes if o.category != category and o.predicted_category == category)
    fn = sum(1 for o in outcomes if o.category == category and o.predicted_category != category)
    return Scores(tp=tp, fp=fp, fn=fn, tn=len(outcomes) - tp - fp - fn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--batch", type=int, action="append", help="only these batches")
    parser.add_argument("--config", default="config/monitor.toml")
    parser.add_argument("--errors", action="store_true", help="list the misclassified records")
    args = parser.parse_args(argv)
    records = read_records(args.file)
    if args.batch:
        records = [r for r in records if r.get("batch") in args.batch]
    clf = build_classifier(load_config(args.config).topics[0])
    report = evaluate_records(records, clf, path=args.file, baselines=False)
    kinds: dict[str, list[Outcome]] = defaultdict(list)
    for record, outcome in zip(records, report.outcomes, strict=True):
        kinds[str(record.get("kind", "?"))].append(outcome)
    outcomes = list(report.outcomes)
    header = f"  {'':<32} {'P':>6} {'R':>6} {'F1':>6}  {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4}"
    print(f"records: {len(outcomes)}  positives: {sum(o.label for o in outcomes)}")
    print("all (match or not)\n" + header)
    print(_row("all", score(outcomes)))
    print(_row("without unsure", score(o for o in outcomes if not o.unsure)))
    print("by kind (match or not)\n" + header)
    for kind in sorted(kinds):
        print(_row(kind, score(kinds[kind])))
    print("by category (the category must be right)\n" + header)
    for category in CATEGORIES:
        print(_row(category, by_category(outcomes, category)))
    if args.errors:
        print(format_errors(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
