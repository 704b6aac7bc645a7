"""Headlines classified per second on one core, over a whole corpus (title + summary).

    python benchmarks/classify.py [../shared/corpus/dev.jsonl] [--repeat N]

Run it from the repository root. Prints the rate for the recognition topic and for a
boolean-query topic, plus how many records matched. The rate is per second of this process's
CPU time (one core), so other load on the machine does not skew it; wall-clock rate is shown
beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.classify import build_classifier  # noqa: E402
from monitor.config import TopicConfig  # noqa: E402

TOPICS = (
    TopicConfig(name="taliban-recognition", event="recognition",
                entities=("Taliban", "Islamic Emirate of Afghanistan")),
    TopicConfig(name="query", query='(Taliban OR "Islamic Emirate") AND (recogni* OR envoy*)'),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default="../shared/corpus/dev.jsonl")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the corpus")
    args = parser.parse_args(argv)
    with open(args.corpus, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    pairs = [(r.get("title") or "", r.get("summary") or "") for r in records]
    for topic in TOPICS:
        clf = build_classifier(topic)
        matched = sum(clf.classify(t, s).match for t, s in pairs)
        best_cpu = best_wall = float("inf")
        for _ in range(args.repeat):
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            for title, summary in pairs:
                clf.classify(title, summary)
            best_cpu = min(best_cpu, time.process_time() - start_cpu)
            best_wall = min(best_wall, time.perf_counter() - start_wall)
        print(f"{topic.name:<22} {len(pairs)} records  {matched:4d} matched  "
              f"{len(pairs) / max(best_cpu, 1e-9):10,.0f} headlines/s of CPU time  "
              f"({len(pairs) / best_wall:,.0f}/s wall clock; best of {args.repeat} passes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
