"""The article stage of a poll: when the headline is not enough, read the article.

    reader = ArticleReader(settings, store, fetcher, limiter, robots, classifiers)
    decisions = reader.read(source, new_items, misses, now)   # more StoryDecisions

Called once per poll by the pipeline, after the headlines are classified and before the
matches are grouped into stories. For the items ``article_plan.wanted`` picks, each article
is served from the cache (by canonical URL), or fetched within the budget, its main text
extracted (monitor/parse/article.py) and its opening classified (``article_plan.settle``).
A match found there becomes a StoryDecision like a headline's, its evidence marked as read
in the article.

Fetched as a page source is: the same fetcher (caps, total deadline), robots.txt obeyed
(its Crawl-delay too), the per-host gate; an article on another host than its source's
must resolve to public addresses unless ``allow_private_networks`` (as a redirect must).

Budget: at most ``article_budget`` fetches per ``poll_interval`` in this process, across
all sources, and one poll stops fetching after ``fetch_deadline`` spent on its articles;
past either, articles are "skipped": their items are classified on the headline alone.
A failed article (refused, unreachable, huge, slow, not HTML, no text) never fails the
poll: its item is recorded and classified on its headline, and the failure is cached
for ``article_plan.RETRY_FAILED``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from monitor.article_plan import (
    ArticleRequest,
    opening,
    same_origin,
    settle,
    usable,
    wanted,
)
from monitor.classify import TopicClassifier
from monitor.config import SourceConfig
from monitor.errors import FetchError, ParseError, StoreError
from monitor.fetch import host_key
from monitor.parse.article import extract_text
from monitor.ports import HostGate, PageFetcher, RobotsPolicy
from monitor.store.base import Store
from monitor.types import (
    ArticleCounts,
    ArticleSettings,
    CachedArticle,
    NewItem,
    StoryDecision,
)
from monitor.urls import without_credentials

log = logging.getLogger("monitor.articles")

MAX_CRAWL_DELAY = 60.0     # seconds, as for page sources


class ArticleBudget:
    """Article fetches left in the current cycle of ``window``, shared by the polls of one
    process. Thread-safe; the cycle starts at the first fetch asked for."""

    def __init__(self, settings: ArticleSettings) -> None:
        self.size = settings.budget
        self.window = settings.window
        self._started: datetime | None = None
        self._used = 0
        self._lock = threading.Lock()

    def take(self, now: datetime) -> bool:
        """One fetch from the budget; False when the cycle's budget is spent."""
        with self._lock:
            if self._started is None or now - self._started >= self.window:
                self._started, self._used = now, 0
            if self._used >= self.size:
                return False
            self._used += 1
            return True


@dataclass
class _Poll:
    """What one poll's article reads found so far."""

    deadline: float
    new_items: Sequence[NewItem]
    decisions: list[StoryDecision] = field(default_factory=list)
    read: list[CachedArticle] = field(default_factory=list)
    counts: ArticleCounts = ArticleCounts()

    def headline(self, item: int) -> str:
        return self.new_items[item].item.title


class ArticleReader:
    """Reads the articles of polls; safe to call from several threads."""

    def __init__(self, settings: ArticleSettings, store: Store, fetcher: PageFetcher,
                 limiter: HostGate, robots: RobotsPolicy,
                 classifiers: Mapping[str, TopicClassifier],
                 budget: ArticleBudget | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.limiter = limiter
        self.robots = robots
        self.classifiers = classifiers
        self.budget = budget or ArticleBudget(settings)
        self._monotonic = monotonic

    def read(self, source: SourceConfig, new_items: Sequence[NewItem],
             misses: Sequence[tuple[int, str]], now: datetime) -> list[StoryDecision]:
        """The matches the articles of this poll's items settle. ``misses``: the (item
        index, topic) pairs the headlines did not match."""
        requests = wanted(self.settings.mode, source.type == "page", new_items, misses,
                          self.classifiers)
        if not requests:
            return []
        cached = self.store.cached_articles([r.key for r in requests])
        poll = _Poll(self._monotonic() + self.settings.seconds_per_poll, new_items)
        for request in requests:
            article = cached.get(request.key)
            if usable(article, now):
                poll.counts += ArticleCounts(from_cache=1)
            else:
                article = self._fresh(source, request, poll, now)
            if article is not None and article.error is None:
                poll.decisions.extend(
                    StoryDecision(request.item, verdict.topic, verdict)
                    for verdict in settle(poll.headline(request.item), article.text,
                                          request.topics, self.classifiers))
        self._record(source, poll, now)
        return poll.decisions

    def _fresh(self, source: SourceConfig, request: ArticleRequest, poll: _Poll,
               now: datetime) -> CachedArticle | None:
        """The article fetched and read now; None when the budget leaves it unread."""
        if self._monotonic() >= poll.deadline or not self.budget.take(now):
            poll.counts += ArticleCounts(skipped=1)
            return None
        article = self._fetch(source, request, poll.headline(request.item), now)
        poll.read.append(article)
        poll.counts += ArticleCounts(failed=1) if article.error else ArticleCounts(fetched=1)
        return article

    def _fetch(self, source: SourceConfig, request: ArticleRequest, headline: str,
               now: datetime) -> CachedArticle:
        url = request.url
        # The source's own host is the operator's choice; any other must be public.
        public_only = not same_origin(url, source.url)
        try:
            if not self.robots.allowed(url, public_only=public_only):
                raise FetchError("disallowed by robots.txt")
            spacing = min(self.robots.crawl_delay(url) or 0.0, MAX_CRAWL_DELAY)
            with self.limiter.slot(host_key(url), spacing):
                fetched = self.fetcher.fetch(url, public_only=public_only, purpose="article at")
            text = extract_text(fetched.content or b"", fetched.url,
                                fetched.headers.get("content-type"))
        except (FetchError, ParseError) as exc:
            return self._failed(source, request, now, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # the extractor on a hostile page: the poll goes on
            log.warning("article %s of source %r: extraction crashed",
                        without_credentials(url), source.name, exc_info=True)
            return self._failed(source, request, now, f"{type(exc).__name__}: {exc}")
        return CachedArticle(request.key, now, opening(text, headline))

    @staticmethod
    def _failed(source: SourceConfig, request: ArticleRequest, now: datetime,
                error: str) -> CachedArticle:
        log.info("article %s of source %r not read: %s", without_credentials(request.url),
                 source.name, error)
        return CachedArticle(request.key, now, error=error)

    def _record(self, source: SourceConfig, poll: _Poll, now: datetime) -> None:
        c = poll.counts
        log.info("articles source=%r fetched=%d from_cache=%d failed=%d skipped=%d "
                 "matched=%d", source.name, c.fetched, c.from_cache, c.failed, c.skipped,
                 len({d.item for d in poll.decisions}))
        try:
            self.store.record_articles(poll.read, c, now)
        except StoreError as exc:   # the reads still count for this poll's verdicts
            log.error("article reads of source %r not cached: %s", source.name, exc)
