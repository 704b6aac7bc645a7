"""Precision, recall and F1 of the recognition detector per language and per kind, on the
hand-written challenge headlines (tests/data/multilingual/*.jsonl) or any labelled JSON-lines
files whose records carry ``lang``.

    python benchmarks/multilingual.py [FILE.jsonl ...] [--errors]

"match" is the topic decision (label 0/1); each kind (granted, step, refused/debated) is
scored strictly: a record counts for a kind when its gold category is that kind, and it is
found when the detector gives that very category.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.classify import build_classifier  # noqa: E402
from monitor.config import TopicConfig  # noqa: E402
from monitor.types import CATEGORIES  # noqa: E402

SHORT = {"recognition_granted": "granted", "recognition_step": "step",
         "recognition_refused_or_debated": "debated"}


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _row(name: str, tp: int, fp: int, fn: int) -> str:
    p, r, f = _prf(tp, fp, fn)
    return f"  {name:<10} P {p:5.2f}  R {r:5.2f}  F1 {f:5.2f}   (tp {tp}, fp {fp}, fn {fn})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--errors", action="store_true", help="list the wrong records")
    args = parser.parse_args(argv)
    files = args.files or sorted((REPO / "tests" / "data" / "multilingual").glob("*.jsonl"))
    clf = build_classifier(TopicConfig(name="taliban-recognition", event="recognition",
                                       entities=("Taliban", "Islamic Emirate of Afghanistan")))
    by_lang: dict[str, list[tuple[dict[str, object], str | None]]] = defaultdict(list)
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                verdict = clf.classify(record.get("title") or "", record.get("summary") or "")
                by_lang[str(record.get("lang", "?"))].append(
                    (record, verdict.category if verdict.match else None))
    for lang, rows in sorted(by_lang.items()):
        positives = sum(1 for r, _ in rows if r["label"])
        print(f"{lang}: {len(rows)} records, {positives} positive")
        tp = sum(1 for r, got in rows if r["label"] and got)
        fp = sum(1 for r, got in rows if not r["label"] and got)
        fn = sum(1 for r, got in rows if r["label"] and not got)
        print(_row("match", tp, fp, fn))
        for category in CATEGORIES:
            ktp = sum(1 for r, got in rows if r["category"] == category and got == category)
            kfp = sum(1 for r, got in rows if r["category"] != category and got == category)
            kfn = sum(1 for r, got in rows if r["category"] == category and got != category)
            print(_row(SHORT[category], ktp, kfp, kfn))
        if args.errors:
            for record, got in rows:
                if (record["category"] if record["label"] else None) != got:
                    print(f"    {record['category']:<32} got {got or '-':<32} {record['title']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
