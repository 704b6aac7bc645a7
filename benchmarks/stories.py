"""Pairwise precision and recall of story grouping on tests/data/story_pairs.jsonl, and on
tests/data/story_pairs_languages.jsonl (one step reported in two languages, or not).

Each labelled pair (a, b) is decided by ``find_same_story`` with ``a`` as the only recent
story and ``b`` as the new item. Fixture references (file + guid) are resolved against
/work/shared/fixtures/feeds/real when that directory is present, else skipped. The
languages set gives headlines only: the recognition classifier gives each side its
category, acting states and kind of step (monitor/events.py, ``event_kind``), as in a poll;
an own-written pair of the first set takes the classifier's kind of step when the
classifier agrees with its labelled category. ``--without-step`` withholds the kind of
step: grouping on the text alone, as before the step's path.

    python benchmarks/stories.py [--sweep] [--errors] [--without-step]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.classify import build_classifier  # noqa: E402
from monitor.config import TopicConfig  # noqa: E402
from monitor.events import event_kind  # noqa: E402
from monitor.stories import (  # noqa: E402
    DEFAULT_WINDOW,
    THRESHOLD,
    THRESHOLD_SHARED_ACTOR,
    StoryKey,
    find_same_story,
    prepare,
)
from monitor.story_index import StoryIndex  # noqa: E402
from monitor.types import EventKind  # noqa: E402

PAIRS = REPO / "tests" / "data" / "story_pairs.jsonl"
LANGUAGE_PAIRS = REPO / "tests" / "data" / "story_pairs_languages.jsonl"
FIXTURES = REPO.parent / "shared" / "fixtures" / "feeds" / "real"
BASE_TIME = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
TOPIC = "taliban-recognition"
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Side:
    topic: str
    title: str
    summary: str
    category: str | None
    actors: tuple[str, ...]
    seen_at: datetime
    kind: EventKind | None = None

    def key(self, story_id: int) -> StoryKey:
        return StoryKey(story_id, self.topic, self.title, self.summary, self.category,
                        self.actors, self.seen_at, self.kind)


CLASSIFIER = build_classifier(TopicConfig(name=TOPIC, event="recognition",
                                          entities=["Taliban"]))


class FixtureIndex:
    """Parsed fixture feeds, by file, then by entry guid (or link)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._feeds: dict[str, dict[str, Side]] = {}

    def side(self, ref: dict[str, str]) -> Side:
        entries = self._feeds.get(ref["file"])
        if entries is None:
            entries = self._feeds[ref["file"]] = self._load(self.root / ref["file"])
        return entries[ref["guid"]]

    @staticmethod
    def _load(path: Path) -> dict[str, Side]:
        out: dict[str, Side] = {}
        for entry in feedparser.parse(str(path)).entries:
            parsed = entry.get("published_parsed") or entry.get("updated_parsed")
            seen = datetime(*parsed[:6], tzinfo=UTC) if parsed else BASE_TIME
            summary = _TAG.sub(" ", entry.get("summary", "") or "")
            out.setdefault(entry.get("id") or entry.get("link"), Side(
                TOPIC, entry.get("title", ""), summary, None, (), seen))
        return out


def own_side(record: dict) -> Side:
    title, summary = record["title"], record.get("summary", "")
    verdict = CLASSIFIER.classify(title, summary)
    category = record.get("category")
    return Side(record.get("topic", TOPIC), title, summary, category,
                tuple(record.get("actors", ())),
                BASE_TIME + timedelta(hours=record.get("hours", 0)),
                event_kind(verdict) if verdict.category == category else None)


def classified_side(record: dict) -> Side:
    """A side as a poll sees it: the classifier gives its category, actors and step."""
    title, summary = record["title"], record.get("summary", "")
    verdict = CLASSIFIER.classify(title, summary)
    return Side(TOPIC, title, summary, verdict.category, verdict.actors,
                BASE_TIME + timedelta(hours=record.get("hours", 0)), event_kind(verdict))


def load_language_pairs() -> list[Pair]:
    pairs: list[Pair] = []
    for line in LANGUAGE_PAIRS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        pairs.append(("languages", record["same"], classified_side(record["a"]),
                      classified_side(record["b"]), record.get("note", "")))
    return pairs


Pair = tuple[str, bool, Side, Side, str]     # kind, same, a, b, note


def load_pairs(index: FixtureIndex | None) -> list[Pair]:
    """(kind, same, a, b, note) for every pair that can be resolved."""
    pairs: list[Pair] = []
    for line in PAIRS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "ref" in record["a"]:
            if index is None:
                continue
            a, b = index.side(record["a"]["ref"]), index.side(record["b"]["ref"])
            pairs.append(("fixture", record["same"], a, b, record.get("note", "")))
        else:
            pairs.append(("own", record["same"], own_side(record["a"]), own_side(record["b"]),
                          record.get("note", "")))
    return pairs


def decide(a: Side, b: Side, threshold: float, threshold_shared: float,
           step: bool = True) -> bool:
    found = find_same_story(b.topic, b.title, b.summary, b.category, b.actors, b.seen_at,
                            [a.key(1)], DEFAULT_WINDOW, kind=b.kind if step else None,
                            threshold=threshold, threshold_shared_actor=threshold_shared)
    return found == 1


def scores(pairs: list[Pair], threshold: float, threshold_shared: float,
           step: bool = True) -> tuple[float, float, int, int, int]:
    tp = fp = fn = 0
    for _, same, a, b, _ in pairs:
        got = decide(a, b, threshold, threshold_shared, step)
        tp += got and same
        fp += got and not same
        fn += (not got) and same
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, tp, fp, fn


def report(name: str, pairs: list[Pair], threshold: float, threshold_shared: float,
           step: bool = True) -> None:
    p, r, tp, fp, fn = scores(pairs, threshold, threshold_shared, step)
    positives = sum(1 for pair in pairs if pair[1])
    print(f"{name:8} pairs={len(pairs):4d} (same={positives:3d}) precision={p:.3f} "
          f"recall={r:.3f} tp={tp} fp={fp} fn={fn}")


def throughput(pairs: list[Pair]) -> None:
    """New items decided per second against 300 recent stories of the topic."""
    sides = [side for pair in pairs for side in (pair[2], pair[3])]
    recent = [replace(s, seen_at=BASE_TIME).key(i) for i, s in enumerate((sides * 10)[:300])]
    items = sides[:50]
    start = time.perf_counter()
    for s in items:
        find_same_story(TOPIC, s.title, s.summary, s.category, s.actors, BASE_TIME, recent,
                        DEFAULT_WINDOW, kind=s.kind)
    elapsed = time.perf_counter() - start
    print(f"speed    {len(items) / elapsed:.0f} items/s against {len(recent)} recent stories "
          f"({elapsed / len(items) / len(recent) * 1e6:.1f} us per comparison)")


def index_agreement(pairs: list[Pair]) -> None:
    """Every pair's first side open at once; each second side looked up through the index
    and by the full scan: the same answer, for how many comparisons."""
    keys = [a.key(i) for i, (_, _, a, _, _) in enumerate(pairs, 1)]
    index = StoryIndex()
    for key in sorted(keys, key=lambda k: k.id):
        index.add(key)
    same = 0
    for _, _, _, b, _ in pairs:
        scan = find_same_story(b.topic, b.title, b.summary, b.category, b.actors, b.seen_at,
                               keys, DEFAULT_WINDOW, kind=b.kind)
        found = index.find(b.topic, prepare(b.title, b.summary), b.category, b.actors,
                           b.seen_at, DEFAULT_WINDOW, kind=b.kind)
        same += found == scan
    print(f"index    {same}/{len(pairs)} lookups answer as the full scan, over {len(keys)} "
          f"open stories: {index.scored / len(pairs):.1f} comparisons per lookup "
          f"(the scan: {len(keys)})")


def step_alone(pairs: list[Pair]) -> None:
    """What the step's path would join were the language not checked: the pairs of the same
    topic and category, the same acting states and the same kind of step within the window."""
    joined = [same for _, same, a, b, _ in pairs
              if a.kind is not None and a.kind == b.kind and a.category == b.category
              and a.topic == b.topic
              and a.actors and set(a.actors) == set(b.actors)
              and abs(a.seen_at - b.seen_at) <= DEFAULT_WINDOW]
    right = sum(joined)
    print(f"{'':8} the step alone would join {len(joined)} of these pairs: {right} same "
          f"story, {len(joined) - right} not")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="precision/recall per threshold")
    parser.add_argument("--errors", action="store_true", help="print the misdecided pairs")
    parser.add_argument("--without-step", action="store_true",
                        help="withhold the kind of step: the text alone groups")
    args = parser.parse_args()
    step = not args.without_step
    index = FixtureIndex(FIXTURES) if FIXTURES.is_dir() else None
    if index is None:
        print(f"fixtures not found at {FIXTURES}: own-written pairs only")
    pairs = load_pairs(index)
    languages = load_language_pairs()
    print(f"threshold={THRESHOLD} threshold_shared_actor={THRESHOLD_SHARED_ACTOR} "
          f"window={DEFAULT_WINDOW}" + ("" if step else " (without the step's path)"))
    report("all", pairs, THRESHOLD, THRESHOLD_SHARED_ACTOR, step)
    for kind in ("fixture", "own"):
        report(kind, [p for p in pairs if p[0] == kind], THRESHOLD, THRESHOLD_SHARED_ACTOR,
               step)
    step_alone([p for p in pairs if p[0] == "own"])
    report("language", languages, THRESHOLD, THRESHOLD_SHARED_ACTOR, step)
    throughput(pairs)
    index_agreement(pairs + languages)
    if args.sweep:
        for threshold in range(10, 75, 4):
            for shared in (0.2, 0.26, 0.3, 0.34):
                report(f"t={threshold / 100:.2f}/{shared}", pairs, threshold / 100, shared,
                       step)
    if args.errors:
        for kind, same, a, b, note in pairs + languages:
            if decide(a, b, THRESHOLD, THRESHOLD_SHARED_ACTOR, step) != same:
                print(f"[{kind}] expected same={same} {note}\n   a: {a.title}\n   b: {b.title}")


if __name__ == "__main__":
    main()
