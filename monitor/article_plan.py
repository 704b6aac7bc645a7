"""PURE decisions of the article stage (monitor/articles.py): which new items' articles a
poll reads, whether a cached read still serves, what the article's opening is, and what it
settles.

- ``choose``: with ``fetch_articles = "candidates"``, the items whose headline and lead
  name the topic's entity without settling an event (``TopicClassifier.names_entity``), and
  every item of a page source (a listing gives a headline, seldom a lead); with ``"all"``,
  every item; with ``"never"``, none. Only items that may alert or join a story (new, or
  a copy of another source's article), each for the topics its headline did not match.
- ``usable``: a cached read serves for as long as it is kept; a failed one is tried again
  after ``RETRY_FAILED``.
- ``opening``: the first ``OPENING_SENTENCES`` sentences of the article's text.
- ``settle``: each topic's classifier on the headline and a window of the opening at a
  time, first window first; a match's evidence then comes from the article.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from monitor.classify import TopicClassifier
from monitor.classify.recognition import split_sentences
from monitor.types import ArticleMode, CachedArticle, Classification, NewItem

OPENING_SENTENCES = 6      # sentences of the article's text classified
WINDOW = 3                 # sentences classified at once, beside the headline (a lead's depth)
OPENING_CHARS = 3000       # the opening kept in the cache, at most
RETRY_FAILED = timedelta(hours=1)
_PORTS = {"http": 80, "https": 443}
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class ArticleRequest:
    """One article to read: for ``new_items[item]``, on behalf of ``topics``."""

    item: int
    url: str                   # the link, as the source gave it
    key: str                   # its canonical URL: the cache's key
    topics: tuple[str, ...]


def choose(mode: ArticleMode, page_source: bool, new_items: Sequence[NewItem],
           misses: Sequence[tuple[int, str]],
           names_entity: Callable[[int, str], bool]) -> list[ArticleRequest]:
    """The articles a poll wants, in item order. ``misses`` are the (item index, topic)
    pairs whose headline did not match; ``names_entity(item, topic)`` asks the topic's
    classifier whether the item's headline and lead name its entity."""
    if mode == "never":
        return []
    wanted: dict[int, list[str]] = {}
    for index, topic in misses:
        new = new_items[index]
        if new.reason not in ("new", "duplicate") or not _readable(new.item.url):
            continue
        if mode == "candidates" and not page_source and not names_entity(index, topic):
            continue
        wanted.setdefault(index, []).append(topic)
    return [ArticleRequest(index, new_items[index].item.url,
                           new_items[index].canonical_url or new_items[index].item.url,
                           tuple(topics)) for index, topics in sorted(wanted.items())]


def wanted(mode: ArticleMode, page_source: bool, new_items: Sequence[NewItem],
           misses: Sequence[tuple[int, str]],
           classifiers: Mapping[str, TopicClassifier]) -> list[ArticleRequest]:
    """`choose`, each topic's classifier telling whether an item's headline and lead name
    its entity: the articles a poll wants (in the daemon, which reads them; in a worker,
    which then leaves the poll to the daemon)."""
    def names_entity(index: int, topic: str) -> bool:
        item = new_items[index].item
        return classifiers[topic].names_entity(item.title, item.summary)

    return choose(mode, page_source, new_items, misses, names_entity)


def _readable(url: str) -> bool:
    return urlsplit(url).scheme.lower() in _PORTS


def usable(cached: CachedArticle | None, now: datetime) -> bool:
    """Whether a cached read serves instead of fetching the article again."""
    if cached is None:
        return False
    return cached.error is None or now - cached.fetched_at < RETRY_FAILED


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs share scheme, host and port: an article on the host of the source
    that linked it is on a host the operator chose."""
    try:
        pa, pb = urlsplit(a), urlsplit(b)
        return (pa.scheme.lower(), pa.hostname, pa.port or _PORTS.get(pa.scheme.lower())) == \
            (pb.scheme.lower(), pb.hostname, pb.port or _PORTS.get(pb.scheme.lower()))
    except ValueError:
        return False


def opening(text: str, headline: str = "") -> str:
    """The opening of an article's text: its first sentences, one a line, after the
    headline when the text starts with it (the headline was read already)."""
    kept: list[str] = []
    paragraphs = [p for p in text.splitlines() if p.strip()]
    if paragraphs and _words(paragraphs[0]) == _words(headline):
        paragraphs = paragraphs[1:]
    for paragraph in paragraphs:
        for sentence in split_sentences(paragraph, OPENING_SENTENCES - len(kept)):
            kept.append(sentence)
        if len(kept) >= OPENING_SENTENCES:
            break
    return "\n".join(kept)[:OPENING_CHARS]


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def settle(title: str, opening_text: str, topics: Sequence[str],
           classifiers: Mapping[str, TopicClassifier]) -> list[Classification]:
    """The matches the article's opening settles, one per topic at most: the headline with
    each window of the opening in turn; the first window that matches decides."""
    sentences = opening_text.splitlines()
    windows = ["\n".join(sentences[i:i + WINDOW]) for i in range(0, len(sentences), WINDOW)]
    found: list[Classification] = []
    for topic in topics:
        classifier = classifiers.get(topic)
        if classifier is None:
            continue
        for window in windows:
            verdict = classifier.classify(title, window)
            if verdict.match:
                rules = tuple("where:article" if r == "where:summary" else r
                              for r in verdict.rules)
                found.append(replace(verdict, rules=rules, evidence_source="article"))
                break
    return found
