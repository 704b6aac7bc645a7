"""Pairwise precision and recall of story grouping on tests/data/story_pairs.jsonl.

Each labelled pair (a, b) is decided by ``find_same_story`` with ``a`` as the only recent
story and ``b`` as the new item. Fixture references (file + guid) are resolved against
/work/shared/fixtures/feeds/real when that directory is present, else skipped.

    /work/venv/bin/python benchmarks/stories.py [--sweep] [--errors]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.stories import (  # noqa: E402
    DEFAULT_WINDOW,
    THRESHOLD,
    THRESHOLD_SHARED_ACTOR,
    StoryKey,
    find_same_story,
    prepare,
)
from monitor.story_index import StoryIndex  # noqa: E402

PAIRS = REPO / "tests" / "data" / "story_pairs.jsonl"
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
    return Side(record.get("topic", TOPIC), record["title"], record.get("summary", ""),
                record.get("category"), tuple(record.get("actors", ())),
                BASE_TIME + timedelta(hours=record.get("hours", 0)))


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


def decide(a: Side, b: Side, threshold: float, threshold_shared: float) -> bool:
    key = StoryKey(1, a.topic, a.title, a.summary, a.category, a.actors, a.seen_at)
    found = find_same_story(b.topic, b.title, b.summary, b.category, b.actors, b.seen_at,
                            [key], DEFAULT_WINDOW, threshold=threshold,
                            threshold_shared_actor=threshold_shared)
    return found == 1


def scores(pairs: list[Pair], threshold: float,
           threshold_shared: float) -> tuple[float, float, int, int, int]:
    tp = fp = fn = 0
    for _, same, a, b, _ in pairs:
        got = decide(a, b, threshold, threshold_shared)
        tp += got and same
        fp += got and not same
        fn += (not got) and same
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, tp, fp, fn


def report(name: str, pairs: list[Pair], threshold: float, threshold_shared: float) -> None:
    p, r, tp, fp, fn = scores(pairs, threshold, threshold_shared)
    positives = sum(1 for pair in pairs if pair[1])
    print(f"{name:8} pairs={len(pairs):4d} (same={positives:3d}) precision={p:.3f} "
          f"recall={r:.3f} tp={tp} fp={fp} fn={fn}")


def throughput(pairs: list[Pair]) -> None:
    """New items decided per second against 300 recent stories of the topic."""
    sides = [side for pair in pairs for side in (pair[2], pair[3])]
    recent = [StoryKey(i, TOPIC, s.title, s.summary, s.category, s.actors, BASE_TIME)
              for i, s in enumerate((sides * 10)[:300])]
    items = sides[:50]
    start = time.perf_counter()
    for s in items:
        find_same_story(TOPIC, s.title, s.summary, s.category, s.actors, BASE_TIME, recent,
                        DEFAULT_WINDOW)
    elapsed = time.perf_counter() - start
    print(f"speed    {len(items) / elapsed:.0f} items/s against {len(recent)} recent stories "
          f"({elapsed / len(items) / len(recent) * 1e6:.1f} us per comparison)")


def index_agreement(pairs: list[Pair]) -> None:
    """Every pair's first side open at once; each second side looked up through the index
    and by the full scan: the same answer, for how many comparisons."""
    keys = [StoryKey(i, a.topic, a.title, a.summary, a.category, a.actors, a.seen_at)
            for i, (_, _, a, _, _) in enumerate(pairs, 1)]
    index = StoryIndex()
    for key in sorted(keys, key=lambda k: k.id):
        index.add(key)
    same = 0
    for _, _, _, b, _ in pairs:
        scan = find_same_story(b.topic, b.title, b.summary, b.category, b.actors, b.seen_at,
                               keys, DEFAULT_WINDOW)
        found = index.find(b.topic, prepare(b.title, b.summary), b.category, b.actors,
                           b.seen_at, DEFAULT_WINDOW)
        same += found == scan
    print(f"index    {same}/{len(pairs)} lookups answer as the full scan, over {len(keys)} "
          f"open stories: {index.scored / len(pairs):.1f} comparisons per lookup "
          f"(the scan: {len(keys)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="precision/recall per threshold")
    parser.add_argument("--errors", action="store_true", help="print the misdecided pairs")
    args = parser.parse_args()
    index = FixtureIndex(FIXTURES) if FIXTURES.is_dir() else None
    if index is None:
        print(f"fixtures not found at {FIXTURES}: own-written pairs only")
    pairs = load_pairs(index)
    print(f"threshold={THRESHOLD} threshold_shared_actor={THRESHOLD_SHARED_ACTOR} "
          f"window={DEFAULT_WINDOW}")
    report("all", pairs, THRESHOLD, THRESHOLD_SHARED_ACTOR)
    for kind in ("fixture", "own"):
        report(kind, [p for p in pairs if p[0] == kind], THRESHOLD, THRESHOLD_SHARED_ACTOR)
    throughput(pairs)
    index_agreement(pairs)
    if args.sweep:
        for step in range(10, 75, 4):
            for shared in (0.2, 0.26, 0.3, 0.34):
                report(f"t={step / 100:.2f}/{shared}", pairs, step / 100, shared)
    if args.errors:
        for kind, same, a, b, note in pairs:
            if decide(a, b, THRESHOLD, THRESHOLD_SHARED_ACTOR) != same:
                print(f"[{kind}] expected same={same} {note}\n   a: {a.title}\n   b: {b.title}")


if __name__ == "__main__":
    main()
