"""Frozen records passed between the pipeline's stages, named by where they flow.

fetch -> FetchResult -> parse -> ParsedItem -> classify -> Classification
-> stories -> Story -> digest -> Digest -> notify

One piece (just over 400 lines) because the records are the vocabulary every stage shares:
one place to read what flows where.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

# Contract: the categories users filter on.
CATEGORIES = ("recognition_granted", "recognition_step", "recognition_refused_or_debated")
# What alerts and explanations say when a grant or a step names no state the detector knows.
UNKNOWN_ACTOR = "unknown (a state the detector cannot name)"

# How a poll ended: fetched and parsed (ok), a 304 (not_modified), the same body as last
# time (unchanged), a failure (error), a 410 (gone).
PollStatus = Literal["ok", "not_modified", "unchanged", "error", "gone"]
# Why a new item is recorded: alerted (new), or only recorded: older than max_age on a first
# poll (old), the same canonical URL as a stored item (duplicate), past max_new_per_poll
# (capped).
NewItemReason = Literal["new", "old", "duplicate", "capped"]
# What a digest carries: stories, a source-health message, or `monitor test-notify`'s test.
DigestKind = Literal["stories", "health", "test"]
# A source's health incidents, and what a poll does to one.
IncidentKind = Literal["failing", "selector", "silent", "flooding"]
HealthAction = Literal["open", "alert", "close"]
# Where a digest's delivery to its notifier stands (the deliveries table's status).
DeliveryStatus = Literal["pending", "sending", "failed", "delivered", "dead"]
# A source's verdict in `monitor status` (monitor.decide.health).
SourceHealth = Literal["new", "ok", "failing", "flooding", "silent", "gone"]
# The event ledger's kinds of step (monitor/events.py), and a story's place in it.
EventKind = Literal["recognised", "accepted_envoy", "sent_ambassador", "embassy", "delisted",
                    "upgraded_ties", "refused"]
Novelty = Literal["first", "follow_up"]
# How one attempt to deliver a digest ended: accepted (ok), failed and to be retried
# (failed), failed and dead-lettered (dead).
AttemptResult = Literal["ok", "failed", "dead"]
# Where a match's evidence sentence was read: the item's headline or lead, or its article.
EvidenceSource = Literal["headline", "lead", "article"]
# Which items' articles a poll reads ([monitor] fetch_articles).
ArticleMode = Literal["candidates", "never", "all"]


def actor_unknown(category: str | None, actors: tuple[str, ...]) -> bool:
    """A grant or a step with no named actor: someone acted, the detector cannot say who."""
    return not actors and category in CATEGORIES[:2]


@dataclass(frozen=True)
class FetchResult:
    """What the fetcher retrieved: bytes plus the caching headers, no parsing."""

    url: str                       # the final URL after redirects
    status: int                    # HTTP status of the final response
    content: bytes | None          # None when not modified (304)
    etag: str | None = None
    last_modified: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    permanent_redirect: str | None = None   # new URL after a 301/308 chain
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.content is None


@dataclass(frozen=True)
class ParsedItem:
    """One story as a source delivered it."""

    guid: str                      # the feed's id, else the link, else a hash of the title
    url: str                       # absolute link ("" when the entry has none)
    title: str
    summary: str = ""
    published: datetime | None = None   # timezone-aware UTC, or None when unknown


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed or page listing."""

    title: str
    items: tuple[ParsedItem, ...]


@dataclass(frozen=True)
class Classification:
    """A classifier's verdict on one text for one topic, with its explanation."""

    topic: str
    match: bool
    score: float                   # 0..1
    category: str | None           # one of CATEGORIES for the recognition event, else None
    actors: tuple[str, ...] = ()   # acting states, canonical country names
    evidence: str = ""             # the sentence that decided
    rules: tuple[str, ...] = ()    # names of the rules that fired
    reason: str = ""               # a non-match: why ("no entity: ...", "other sense ...")
    # Where the evidence sentence comes from: the item's "headline" or "lead" as the source
    # delivered it, or the "article" page's text (monitor/articles.py).
    evidence_source: EvidenceSource = "headline"


@dataclass(frozen=True)
class StorySource:
    """One outlet's report of a story."""

    source: str
    url: str
    title: str
    published: datetime | None


@dataclass(frozen=True)
class StoryEvent:
    """The ledger entry a story reports: a state's step of a kind, and its first report
    (the story itself when it is the first)."""

    state: str
    kind: EventKind
    first_title: str
    first_seen: datetime
    first_url: str = ""


@dataclass(frozen=True)
class Story:
    """A story as alerted: one event, possibly reported by several outlets."""

    id: int
    topic: str
    title: str
    url: str
    published: datetime | None
    category: str | None
    score: float
    actors: tuple[str, ...]
    evidence: str
    sources: tuple[StorySource, ...]
    summary: str = ""              # the first item's summary as parsed: the alert's lead
    novelty: Novelty | None = None   # first step of its kind by a state, or a follow-up
    event: StoryEvent | None = None  # what it is the first report of, or follows
    first_seen: datetime | None = None   # when its first item was seen (None: not known)
    evidence_source: EvidenceSource | None = None   # None: stored before it was kept


@dataclass(frozen=True)
class Digest:
    """What one notifier receives at one time; ``id`` is stable across retries."""

    id: str
    notifier: str
    created_at: datetime
    stories: tuple[Story, ...]
    kind: DigestKind = "stories"
    text: str = ""                 # free text for health and test messages


@dataclass(frozen=True)
class SourceState:
    """What the store remembers of a source between polls."""

    name: str
    url: str                           # the URL to fetch (after permanent redirects)
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    first_polled_at: datetime | None = None   # None until the first successful poll
    last_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    last_new_item_at: datetime | None = None
    last_status: PollStatus | None = None
    last_error: str | None = None      # "FetchError: HTTP 404 Not Found"
    last_error_at: datetime | None = None
    last_error_kind: ErrorKind | None = None   # what failed: health decides on it, not on text
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    next_poll_at: datetime | None = None
    items_seen: int = 0
    last_items: int = 0
    last_new: int = 0                  # new items of the last poll (capped ones included)
    new_per_poll: float = 0.0          # its usual new items per poll (a moving average)
    flooding_since: datetime | None = None   # its polls bring far more than usual since then
    last_capped: int = 0               # items of the last poll past max_new_per_poll
    gone: bool = False


@dataclass(frozen=True)
class HealthFacts:
    """What monitor.decide.health reads of a source's state, and nothing more: the store's
    narrow read (Store.source_health_facts) for counting verdicts at every metrics scrape,
    without mapping every column of 10,000 states. health() takes it or a SourceState."""

    name: str
    gone: bool = False
    consecutive_failures: int = 0
    last_success_at: datetime | None = None
    flooding_since: datetime | None = None
    last_new_item_at: datetime | None = None
    first_polled_at: datetime | None = None

    @classmethod
    def of(cls, state: SourceState) -> HealthFacts:
        return cls(state.name, state.gone, state.consecutive_failures, state.last_success_at,
                   state.flooding_since, state.last_new_item_at, state.first_polled_at)


@dataclass(frozen=True)
class NewItem:
    """A parsed item that the store has not seen, and what to do with it."""

    item: ParsedItem
    canonical_url: str
    reason: NewItemReason = "new"
    duplicate_of: int | None = None    # stored item with the same canonical URL, if any

    @property
    def alert(self) -> bool:
        return self.reason == "new"


@dataclass(frozen=True)
class StoryDecision:
    """For ``new_items[item]`` of a poll and one topic: attach to an existing story, or
    open a new one."""

    item: int                          # index into the poll's new_items
    topic: str
    classification: Classification
    story_id: int | None = None        # existing story to attach to
    same_as: int | None = None         # else: join the story opened by new_items[same_as]
                                       # in this poll; neither: open a new story


@dataclass(frozen=True)
class Incident:
    """An open incident as stored."""

    id: int
    source: str
    kind: IncidentKind
    opened_at: datetime
    detail: str
    alerted: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HealthChange:
    """What a poll does to a source's incidents: open one, alert notifiers, or close one."""

    source: str
    kind: IncidentKind
    action: HealthAction
    opened_at: datetime
    text: str                      # the message for the notifiers, "" when nobody is told
    notifiers: tuple[str, ...] = ()
    incident_id: int | None = None  # None for an incident opened by this same change list


@dataclass(frozen=True)
class PollRecord:
    """Everything one poll of one source writes, committed in one transaction."""

    state: SourceState                 # the source's state after the poll
    new_items: tuple[NewItem, ...] = ()
    stories: tuple[StoryDecision, ...] = ()
    health: tuple[HealthChange, ...] = ()


@dataclass(frozen=True)
class DatabaseInfo:
    """What `monitor status` says of the database itself."""

    path: str
    size: int                          # bytes: the file and its write-ahead log
    items: int
    oldest_item: datetime | None       # first seen; None when there is no item
    kept_keys: int = 0                 # dedup keys of the items retention deleted


@dataclass(frozen=True)
class DatabaseCheck:
    """What `monitor db check` found: the schema's version and each check's verdict."""

    path: str                          # as shown to a person (no password)
    engine: str                        # "SQLite 3.45.1", "PostgreSQL 15.20"
    schema_version: int
    code_version: int                  # the schema version this news-monitor writes
    problems: tuple[str, ...]          # empty when every check passed
    checked: tuple[str, ...]           # what was checked
    rows: tuple[tuple[str, int], ...]  # (table, row count)


@dataclass(frozen=True)
class PastMatch:
    """A story a stored item was part of: its topic, whether it alerted, its evidence."""

    topic: str
    story_id: int
    alerted: bool
    evidence: str


@dataclass(frozen=True)
class StoredItem:
    """An item as stored, with the stories it joined: what `monitor backtest` replays."""

    id: int
    source: str
    url: str
    title: str
    summary: str
    published: datetime | None
    first_seen: datetime
    alert: bool                        # it was news when it came (not old, copy or capped)
    matches: tuple[PastMatch, ...] = ()


# What a source's failed poll ran into: its fetch (fetch; gone for a 410), its body
# (parse), a page's item_selector matching nothing (selector: the layout changed), or a
# bug in news-monitor (crash). Stored beside the error's message.
ErrorKind = Literal["fetch", "gone", "parse", "selector", "crash"]


@dataclass(frozen=True)
class ParseJob:
    """What a worker needs to parse one fetched body."""

    kind: str                          # "feed" | "page"
    content: bytes
    url: str
    content_type: str | None = None
    item_selector: str = ""
    link_selector: str = ""
    title_selector: str | None = None
    summary_selector: str | None = None


@dataclass(frozen=True)
class PollTail:
    """What a worker process needs to settle and commit the poll it sifted
    (monitor/poll_commit.py), besides the job."""

    interval: timedelta                # the source's poll interval
    page: bool                         # a page source (which articles a poll would read)
    fetched: FetchResult               # the fetch, without its body (the job's parse has it)
    body_hash: str


@dataclass(frozen=True)
class SiftJob:
    """What sifting one fetched body needs (monitor/sift.py): in this process or a worker.
    With ``tail``, a worker also commits the poll, unless its articles are to be read."""

    source: str
    parse: ParseJob
    state: SourceState                 # the source's state before this poll
    now: datetime                      # the poll's one clock reading after the fetch
    tail: PollTail | None = None


@dataclass(frozen=True)
class KnownKeys:
    """What the store knows of a body's items, for sifting (`ItemKeys.known_keys`)."""

    guids: set[str]             # the guids the source delivered: stored, or kept by retention
    canonical: dict[str, str]   # URL -> its canonical form, of (at least) the other items
    urls: dict[str, int]        # of those, canonical URL -> the first stored item holding it
    forgotten: set[str]         # of those, the canonical URLs retention kept the key of


@dataclass(frozen=True)
class Sifted:
    """A fetched body sifted: how many items it held, those the store has not seen (with
    what to do with each), each new item's verdict per topic that matched, and the (item
    index, topic) pairs that did not match (their articles may: monitor/articles.py reads
    them in the daemon's process, since it fetches)."""

    items: int
    new_items: tuple[NewItem, ...]
    decisions: tuple[StoryDecision, ...]
    misses: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Polled:
    """A poll settled and committed (monitor/poll_commit.py): the source's new state, how
    many items its body held, how many of its new items matched, and (topic, category) of
    each story it opened that alerts."""

    state: SourceState
    items: int
    matched: int
    alerting: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class StoryKey:
    """What grouping needs to know of an existing story."""

    id: int
    topic: str
    title: str
    summary: str
    category: str | None
    actors: tuple[str, ...]
    seen_at: datetime      # when the story was first seen
    # The kind of step it reports (its ledger event's, monitor/events.py): reports of one
    # step in two languages share no word, but this (monitor/stories.py, ``same_step``).
    kind: EventKind | None = None


@dataclass(frozen=True)
class PollOutcome:
    """What one poll did, for logs, progress and `monitor once`'s summary."""

    source: str
    status: PollStatus
    items: int = 0
    new: int = 0
    matched: int = 0
    error: str | None = None
    duration: float = 0.0
    capped: int = 0        # new items past max_new_per_poll: recorded, not alerted
    fetch_seconds: float | None = None   # how long the fetch took; None: none was made
    # (topic, category) of each story this poll opened that alerts: a story several
    # outlets report is opened once
    new_stories: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class FlushOutcome:
    """What one flush of a notifier's outbox did, for logs and `monitor once`'s summary."""

    notifier: str
    sent: int = 0
    failed: int = 0
    dead: int = 0
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class PollSettings:
    """What a poll reads of the config: the pipeline is given this, not the whole Config."""

    poll_interval: timedelta           # a source's interval unless it sets its own
    max_backoff: timedelta             # the longest wait after repeated failures
    max_age: timedelta                 # older items of a source's first poll are not news
    story_window: timedelta            # how far back a match may join an existing story
    max_new_per_poll: int              # new items alerted per poll; the rest are capped

    def interval(self, source_interval: timedelta | None) -> timedelta:
        """A source's poll interval: its own, else the default."""
        return source_interval or self.poll_interval


@dataclass(frozen=True)
class ArticleSettings:
    """What the article stage reads of the config (monitor/articles.py)."""

    mode: ArticleMode = "candidates"
    budget: int = 200                  # article fetches per ``window``, in this process
    window: timedelta = timedelta(minutes=15)   # the budget's cycle: the poll interval
    seconds_per_poll: float = 60.0     # one poll stops fetching articles after this long


@dataclass(frozen=True)
class CachedArticle:
    """What the opening of an article said, by its URL; a failed read keeps its error."""

    url: str                           # the canonical URL of the item that linked it
    fetched_at: datetime
    text: str = ""                     # its opening, as classified ("" when it failed)
    error: str | None = None           # "FetchError: HTTP 404 Not Found"


@dataclass(frozen=True)
class ArticleCounts:
    """Article reads: fetched, served from the cache, failed, or skipped past the budget."""

    fetched: int = 0                   # fetched and read (failures not counted)
    from_cache: int = 0
    failed: int = 0                    # fetched (or refused) without text
    skipped: int = 0                   # wanted, but past the budget

    def __add__(self, other: ArticleCounts) -> ArticleCounts:
        return ArticleCounts(self.fetched + other.fetched, self.from_cache + other.from_cache,
                             self.failed + other.failed, self.skipped + other.skipped)

    @property
    def total(self) -> int:
        return self.fetched + self.from_cache + self.failed + self.skipped
