"""Article extraction (monitor.parse.article) on the article-extraction benchmark's pages.

    python benchmarks/extract.py [--fixtures ../shared/fixtures/pages/aeb] [--peers] [--options]

The pages are the 181 annotated news pages of scrapinghub/article-extraction-benchmark
(``html/<id>.html.gz`` and ``ground-truth.json``). The metric is that benchmark's: text
split into ``\\w+`` tokens; each page's extracted text and its annotated article body
compared as multisets of 4-token shingles (TP, FP and FN, normalised by their sum so
that every page weighs the same); precision averaged over the pages with any TP or FP,
recall over those with any TP or FN; F1 from the two averages.

Prints P, R and F1 of the extractor as the pipeline calls it, its CPU and wall time per
page, and the process's memory (import alone, then after the pages). ``--peers`` also
scores the published outputs of other extractors kept beside the pages
(``peer-output/*.json``): the scores the benchmark's README gives for them check this
implementation of the metric. ``--options`` scores a few trafilatura settings beside the
one chosen. Exits cleanly (status 0, with a message) when the fixtures are absent.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.errors import ParseError  # noqa: E402
from monitor.parse.article import MAX_HTML_BYTES, extract_text  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pages" / "aeb"
SHINGLE = 4
_TOKEN = re.compile(r"\w+")

# Other trafilatura settings, scored with --options (the chosen one is extract_text's).
OPTIONS: dict[str, dict[str, Any]] = {
    "trafilatura defaults": {},
    "no comments": {"include_comments": False},
    "no comments, favor_recall": {"include_comments": False, "favor_recall": True},
    "no comments, no tables, favor_precision": {"include_comments": False,
                                                "include_tables": False,
                                                "favor_precision": True},
    "no comments, favor_precision, fast": {"include_comments": False,
                                           "favor_precision": True, "fast": True},
}

Counts = tuple[float, float, float]


def shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    last = max(1, len(tokens) - SHINGLE + 1)
    return Counter(tuple(tokens[i:i + SHINGLE]) for i in range(last) if tokens[i:i + SHINGLE])


def page_counts(truth: str, predicted: str) -> Counts:
    """TP, FP, FN of one page, normalised by their sum."""
    expected, got = shingles(truth), shingles(predicted)
    tp = sum((expected & got).values())
    fp = sum((got - expected).values())
    fn = sum((expected - got).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


def scores(truth: dict[str, str], predicted: dict[str, str]) -> tuple[float, float, float]:
    counts = [page_counts(truth[key], predicted.get(key, "")) for key in truth]
    p = statistics.mean(precision(*c) for c in counts if c[0] + c[1] > 0)
    r = statistics.mean(recall(*c) for c in counts if c[0] + c[2] > 0)
    return p, r, 2 * p * r / (p + r)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(name: str, extract: Callable[[bytes, str], str], pages: dict[str, tuple[bytes, str]],
        truth: dict[str, str]) -> None:
    extract(*next(iter(pages.values())))     # warm up: lazy imports and tables
    predicted: dict[str, str] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    for key, (html, url) in pages.items():
        predicted[key] = extract(html, url)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    p, r, f1 = scores(truth, predicted)
    empty = sum(1 for text in predicted.values() if not text)
    print(f"{name:<44} P {p:.3f}  R {r:.3f}  F1 {f1:.3f}   "
          f"{1000 * cpu / len(pages):5.1f} cpu-ms/page  {1000 * wall / len(pages):5.1f} "
          f"wall-ms/page  no text: {empty}")


def as_used(html: bytes, url: str) -> str:
    try:
        return extract_text(html, url)
    except ParseError:
        return ""


def with_options(options: dict[str, Any]) -> Callable[[bytes, str], str]:
    import trafilatura

    def extract(html: bytes, url: str) -> str:
        return trafilatura.extract(html[:MAX_HTML_BYTES], url=url, **options) or ""
    return extract


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--peers", action="store_true",
                        help="also score the published peer outputs (checks the metric)")
    parser.add_argument("--options", action="store_true",
                        help="also score other trafilatura settings")
    args = parser.parse_args()
    ground = args.fixtures / "ground-truth.json"
    if not ground.is_file():
        print(f"fixtures not found: {ground}; nothing measured")
        return
    started = rss_mb()
    import trafilatura  # noqa: F401 - measured: what reading articles adds to the process
    imported = rss_mb()
    annotated = json.loads(ground.read_text(encoding="utf-8"))
    truth = {key: value.get("articleBody", "") for key, value in annotated.items()}
    pages = {key: (gzip.decompress((args.fixtures / "html" / f"{key}.html.gz").read_bytes()),
                   annotated[key].get("url", "")) for key in truth}
    print(f"{len(pages)} pages, {sum(len(h) for h, _ in pages.values()) / 1e6:.1f} MB of HTML; "
          f"metric: {SHINGLE}-token shingles, P and R averaged over pages")
    loaded = rss_mb()
    run("monitor extract_text (as the pipeline reads)", as_used, pages, truth)
    print(f"memory: trafilatura's import adds {imported - started:.0f} MB "
          f"({started:.0f} -> {imported:.0f} MB); extracting the pages adds "
          f"{rss_mb() - loaded:.0f} MB more (their HTML held aside; peak "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    if args.options:
        for name, options in OPTIONS.items():
            run(f"trafilatura: {name}", with_options(options), pages, truth)
    if args.peers:
        for path in sorted((args.fixtures / "peer-output").glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            data = data.get("output", data)
            p, r, f1 = scores(truth, {k: (v or {}).get("articleBody", "") or ""
                                      for k, v in data.items()})
            print(f"peer output {path.stem:<32} P {p:.3f}  R {r:.3f}  F1 {f1:.3f}")


if __name__ == "__main__":
    main()
