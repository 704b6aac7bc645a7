"""PURE: decide whether a newly seen item reports a story that is already known.

The same story reaches us from several outlets: wire copies with a dateline, aggregator
copies with the outlet appended ("Title - Outlet", "Title | Outlet"), rewritten headlines
over a similar lead. ``find_same_story`` groups those into the existing story; a follow-up
with a new fact (another acting state, another category) or an item outside the time
window is a new story.

A story must not become a sink that takes in every similar item (one lost alert is the worst
failure of this product), so ``choose_story`` admits an item to a story only when:

- the item names acting states: the story names one of them too (its actors are the union
  of its items'), and every state the item adds is named by the story's own text, unless the
  story already names ``MAX_STORY_ACTORS`` states (crowded: it takes in no further state). A
  story naming no acting state takes an item naming states only if its text names them all;
- the item names none, in a topic whose classifier names actors (its category is set):
  only on strong text evidence, ``THRESHOLD_NO_ACTOR``, whatever the story names.

The region's press reports a step in its own language, often first, and two headlines in
two languages share no word. ``same_step`` groups them without the text: a report in
another language (another script: Latin, Cyrillic, Han, or one language of the Arabic
script) joins a story that reports the same kind of step (the event ledger's kind,
monitor/events.py: recognised, accepted an envoy, delisted, ...) by the same acting states,
in the same category, within the window. Two reports in one language keep the rule above,
so this path changes nothing on them; a report alike in its words wins over one alike only
in its step.

A missed grouping costs a duplicate alert; a wrong one may cost an alert: in doubt, two
stories.

No I/O and no clock: the caller passes ``seen_at`` and the recent stories of the topic.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property, lru_cache

from monitor.classify import gazetteer
from monitor.classify.languages import normalise
from monitor.types import EventKind, StoryKey

# Pairwise decision thresholds on ``similarity`` (see benchmarks/stories.py for the
# precision/recall they give on tests/data/story_pairs.jsonl).
THRESHOLD = 0.34
# When both items name the same acting state and carry the same category, less text in
# common is needed: "Russia recognises the Taliban" and "Moscow accepts Kabul's envoy"
# share few words but report one event.
THRESHOLD_SHARED_ACTOR = 0.30
# An item naming no acting state (a grant "by a state", a UN debate) joins a story only when
# the text says it strongly: two unnamed states' grants read alike.
THRESHOLD_NO_ACTOR = 0.5
# A story naming this many acting states takes in no further state (see choose_story).
MAX_STORY_ACTORS = 4
DEFAULT_WINDOW = timedelta(hours=48)

_STEM_LEN = 5          # tokens are cut to this many characters: a crude, fast stemmer
_LEAD_TOKENS = 40      # how much of the summary counts as the lead
_LEAD_CHARS = 400      # the summary is cut before tokenising, for speed
_KICKER_WEIGHT = 0.5   # weight of a headline's kicker ("Aukus: ...", "Covid-19: ...")
_NUMBER_CLASH = 0.35   # factor when each headline has a number the other lacks
_NONE: frozenset[str] = frozenset()


STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers him his how i if in into is it its itself just me more
most my no nor not now of off on once only or other our ours out over own same she should so
some such than that the their theirs them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you
your says said say new news report reports reported live update updates latest breaking watch
video photos analysis opinion explainer exclusive first after amid over via per vs
""".split())

# Wire and section tags in front of a headline: "UPDATE 2-", "EXCLUSIVE-", "Breaking: ".
_TITLE_TAG = re.compile(
    r"^(?:(?:UPDATE|WRAPUP|REFILE|CORRECTED|EXCLUSIVE|RPT|FACTBOX|EXPLAINER|ANALYSIS|INSIGHT)"
    r"(?:\s*\d+)?\s*-\s*"
    r"|(?:breaking|live|watch|video|update|exclusive|analysis|opinion|explainer)\s*:\s*)+",
    re.IGNORECASE,
)
# An outlet appended by an aggregator: "... | Outlet", "... - Outlet Name".
_PIPE_SUFFIX = re.compile(r"\s+[|｜]\s+([^|｜]{1,60})$")
_DASH_SUFFIX = re.compile(r"\s+[-–—]\s+([^-–—]{1,60})$")
_OUTLET_WORD = re.compile(r"^(?:[A-Z0-9][\w.&'’]*|of|the|de|la|le|and|for|[a-z0-9-]+\.[a-z]{2,})$")
_TOKEN = re.compile(r"\w+")


def strip_outlet(title: str) -> str:
    """The headline without wire tags and without an aggregator's outlet suffix."""
    text = _normalise_space(title)
    tag = _TITLE_TAG.match(text)
    if tag:
        text = text[tag.end():]
    for _ in range(2):  # "Title - Section | Outlet"
        match = _PIPE_SUFFIX.search(text) if ("|" in text or "\uff5c" in text) else None
        if match and len(match.group(1).split()) <= 6 and len(text[: match.start()].split()) >= 3:
            text = text[: match.start()]
            continue
        match = _DASH_SUFFIX.search(text) if _has_dash(text) else None
        if match and _looks_like_outlet(match.group(1)) and len(text[: match.start()].split()) >= 3:
            text = text[: match.start()]
            continue
        break
    return text.strip()


def _looks_like_outlet(text: str) -> bool:
    words = text.split()
    if not 1 <= len(words) <= 5:
        return False
    if not all(_OUTLET_WORD.match(word) for word in words):
        return False
    # "Reuters", "BBC News", "The New York Times", "aljazeera.com"; not "Russia Recognises Kabul"
    return words[0][0].isupper() or "." in words[0]


def _normalise_space(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def _has_dash(text: str) -> bool:
    return " - " in text or " \u2013 " in text or " \u2014 " in text


def tokens(text: str) -> list[str]:
    """Normalised content tokens: accents folded, case folded, stop words dropped, stemmed."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    folded = text.casefold().replace("'s ", " ").replace("’s ", " ")
    return [token[:_STEM_LEN] for token in _TOKEN.findall(folded)
            if token not in STOP_WORDS and (len(token) > 1 or token.isdigit())]


def title_fingerprint(title: str) -> str:
    """A key for exact-duplicate lookups: sorted distinct stemmed tokens of the headline."""
    return " ".join(sorted(set(tokens(strip_outlet(title)))))


@dataclass(frozen=True)
class _Title:
    weights: dict[str, float]    # token -> weight; a kicker ("Aukus: ...") counts half
    total: float
    numbers: frozenset[str]      # numbers in the headline: "aged 81" is not "aged 79"
    fingerprint: str


def _prepare_title(title: str) -> _Title:
    headline = strip_outlet(title)
    kicker, colon, rest = headline.partition(": ")
    weights: dict[str, float] = {}
    if colon and len(kicker.split()) <= 4 and rest:
        for token in tokens(kicker):
            weights[token] = _KICKER_WEIGHT
        headline = rest
    body = tokens(headline)
    for token in body:
        weights[token] = 1.0
    # numbers of the kicker ("Covid-19: ...") name a subject, not a fact
    return _Title(weights, sum(weights.values()),
                  frozenset(token for token in body if token.isdigit()),
                  " ".join(sorted(weights)))


def _prepare_lead(title: _Title, summary: str) -> frozenset[str]:
    """The title's tokens plus the start of the summary (empty without a summary)."""
    if not summary:
        return frozenset()
    lead = tokens(gazetteer.strip_dateline(summary[:_LEAD_CHARS]))[:_LEAD_TOKENS]
    return frozenset(title.weights).union(lead) if lead else frozenset()


@dataclass(frozen=True)
class Prepared:
    """A report tokenised once for comparing: its headline, and its lead when first needed.

    Comparing two prepared reports does no text processing, so a story kept prepared
    (see monitor/story_index.py) costs only the arithmetic of each comparison.
    """

    title: _Title
    summary: str
    headline: str = ""     # the headline as written, for the states it names

    @cached_property
    def lead(self) -> frozenset[str]:
        """Headline tokens plus the lead's; empty without a summary."""
        return _prepare_lead(self.title, self.summary)

    @cached_property
    def states(self) -> frozenset[str]:
        """The states (and organisations) the headline and the lead name, acting or not, in
        English or in the languages of the region (their own names for the states)."""
        lead = gazetteer.strip_dateline(self.summary[:_LEAD_CHARS]) if self.summary else ""
        found = set(gazetteer.find_states(gazetteer.strip_dateline(self.headline)))
        if lead:
            found.update(gazetteer.find_states(lead))
        for text in (self.headline, lead):
            if text and normalise.scripts(text):
                found.update(gazetteer.find_localized_states(text))
        return frozenset(found)

    @cached_property
    def language(self) -> str | None:
        """The headline's language when the region's scripts write it ("ru", "zh", "fa",
        "ps", "ur", "ar"); None for the Latin script (English and the other languages
        written in it, which headline similarity compares)."""
        return None if self.headline.isascii() else normalise.language(self.headline)


def prepare(title: str, summary: str) -> Prepared:
    """``title`` and ``summary`` ready for ``similarity``-style comparisons."""
    return Prepared(_prepare_title(title), summary, title)


def _title_dice(a: dict[str, float], b: dict[str, float]) -> float:
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    shared = sum(min(weight, large[token]) for token, weight in small.items() if token in large)
    return 2 * shared / (sum(a.values()) + sum(b.values()))


def _cosine(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / math.sqrt(len(a) * len(b))


def _score(a: Prepared, b: Prepared, ignore: frozenset[str] = frozenset()) -> float:
    """Similarity of two prepared reports: the headlines, helped by the leads when the
    headlines share words.

    ``ignore``: tokens that say nothing here (the names of a shared acting state).
    """
    if a.title.weights and a.title.fingerprint == b.title.fingerprint:
        return 1.0
    a_weights, b_weights = a.title.weights, b.title.weights
    if ignore:
        a_weights = {t: w for t, w in a_weights.items() if t not in ignore}
        b_weights = {t: w for t, w in b_weights.items() if t not in ignore}
    title = _title_dice(a_weights, b_weights)
    if title > 0 and a.summary and b.summary:  # no word in common: leads cannot save it
        a_lead, b_lead = a.lead - ignore, b.lead - ignore
        if a_lead and b_lead:
            title = max(title, 0.5 * title + 0.5 * _cosine(a_lead, b_lead))
    if a.title.numbers - b.title.numbers and b.title.numbers - a.title.numbers:
        title *= _NUMBER_CLASH   # "October 17" and "October 18": two different reports
    return title


def similarity(a_title: str, a_summary: str, b_title: str, b_summary: str) -> float:
    """How alike two reports read, 0..1 (1: the same headline once normalised)."""
    return _score(prepare(a_title, a_summary), prepare(b_title, b_summary))


def find_same_story(topic: str, title: str, summary: str, category: str | None,
                    actors: tuple[str, ...], seen_at: datetime,
                    recent: Iterable[StoryKey], window: timedelta, *,
                    kind: EventKind | None = None, threshold: float = THRESHOLD,
                    threshold_shared_actor: float = THRESHOLD_SHARED_ACTOR,
                    threshold_no_actor: float = THRESHOLD_NO_ACTOR) -> int | None:
    """The id of the existing story this item reports, or None when it is a new story.

    A candidate must be of the same topic, seen within ``window`` of ``seen_at``, of the
    same category, and must admit the item's acting states (see the module's docstring).
    Among those, the most similar one above the threshold wins (ties: the earliest seen);
    else, for a report of the step ``kind`` (monitor/events.py, ``event_kind``), a story
    of the same step in another language (``same_step``).
    The thresholds are parameters for benchmarks; callers keep the defaults.
    """
    return choose_story(topic, prepare(title, summary), category, actors, seen_at,
                        ((story, prepare(story.title, story.summary)) for story in recent),
                        window, kind=kind, threshold=threshold,
                        threshold_shared_actor=threshold_shared_actor,
                        threshold_no_actor=threshold_no_actor)


def needed_score(category: str | None, actors: frozenset[str], story_actors: frozenset[str],
                 story: Prepared, *, threshold: float = THRESHOLD,
                 threshold_shared_actor: float = THRESHOLD_SHARED_ACTOR,
                 threshold_no_actor: float = THRESHOLD_NO_ACTOR) -> float | None:
    """The similarity an item naming ``actors`` needs to join a story naming
    ``story_actors`` (of the same category), or None when it may not join whatever it says.
    """
    if not actors:   # someone unnamed acted: only the text can tell, and it must say it well
        return threshold if category is None else threshold_no_actor
    shared = actors & story_actors
    if story_actors and not shared:
        return None                      # a story about other states
    added = actors - story_actors
    if added and (len(story_actors) >= MAX_STORY_ACTORS or not added <= story.states):
        return None                      # a state the story does not speak of, or crowded
    return threshold_shared_actor if shared else threshold


def same_step(item: Prepared, acting: frozenset[str], kind: EventKind | None,
              story: StoryKey, prepared: Prepared) -> bool:
    """Whether the item reports the story's step in another language: the same kind of step
    by the same acting states (none: no step to compare), its headline in another script
    or language. The caller checks the topic, the category and the window."""
    return (kind is not None and kind == story.kind and bool(acting)
            and acting == frozenset(story.actors) and item.language != prepared.language)


@lru_cache(maxsize=1024)
def _actor_tokens(actors: frozenset[str]) -> frozenset[str]:
    """The tokens of acting states' names (they say nothing when both reports name them)."""
    return frozenset(tokens(" ".join(actors)))


def choose_story(topic: str, item: Prepared, category: str | None, actors: tuple[str, ...],
                 seen_at: datetime, candidates: Iterable[tuple[StoryKey, Prepared]],
                 window: timedelta, *, kind: EventKind | None = None,
                 threshold: float = THRESHOLD,
                 threshold_shared_actor: float = THRESHOLD_SHARED_ACTOR,
                 threshold_no_actor: float = THRESHOLD_NO_ACTOR) -> int | None:
    """``find_same_story`` over stories already prepared: the decision itself.

    A story can only be chosen if its headline shares a token with the item's (else the
    score is 0), or if it reports the item's step in another language (``same_step``):
    what lets an index of headline tokens and of steps hand over only those.
    """
    acting = frozenset(actors)
    best: tuple[bool, float, float, int] | None = None
    for story, prepared in candidates:
        if story.topic != topic or story.category != category:
            continue
        if abs(seen_at - story.seen_at) > window:
            continue
        other_actors = frozenset(story.actors)
        needed = needed_score(category, acting, other_actors, prepared, threshold=threshold,
                              threshold_shared_actor=threshold_shared_actor,
                              threshold_no_actor=threshold_no_actor)
        if needed is None:
            continue
        shared_actor = acting & other_actors
        ignore = _actor_tokens(shared_actor) if shared_actor else _NONE
        score = _score(item, prepared, ignore)
        alike = score >= needed
        if not alike and not same_step(item, acting, kind, story, prepared):
            continue
        # Alike in words first, the highest score; on ties the story seen first (negated
        # for max()).
        rank = (alike, score, -story.seen_at.timestamp(), -story.id)
        if best is None or rank > best:
            best = rank
    return None if best is None else -best[3]
