"""PURE: a Digest -> its subject line, plain text, HTML and JSON body.

Feed text is hostile until proven otherwise. Everything that reaches an alert goes
through one of two cleaners first: ``one_line`` (monitor/text.py, the parser's rule too:
titles, source names, URLs, header values: control characters removed, line breaks
become spaces, length capped) or
``clean_text`` (evidence, health text: line breaks kept, other control characters
removed, length capped). HTML is rendered by Jinja2 with autoescape on, and only
http(s) links become ``href`` attributes. A URL never shows a ``user:password@``
(stories stored by earlier versions may hold one), nor click-tracking parameters.

Each story shows its lead: the start of the first report's summary (the feed's description,
or a page's standfirst), cut at a sentence end within LEAD_LIMIT characters, without the
headline when the description repeats it. The evidence is shown when it adds something,
not when it is the headline again. People read times in the notifier's ``timezone``; the
JSON body keeps ISO 8601 UTC for programs.

No I/O beyond reading the package's templates, no clock: ``digest_payload`` takes
``sent_at`` from its caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, overload

import jinja2

from monitor.events import KIND_LABELS, day_text
from monitor.text import ELLIPSIS, cap
from monitor.text import one_line as text_line
from monitor.types import UNKNOWN_ACTOR, Digest, Story, StorySource, actor_unknown
from monitor.urls import strip_credentials, without_tracking

SUBJECT_LIMIT = 200
TITLE_LIMIT = 500
NAME_LIMIT = 200
URL_LIMIT = 2000
EVIDENCE_LIMIT = 1000
LEAD_LIMIT = 300
TEXT_LIMIT = 20000

CATEGORY_LABELS = {
    "recognition_granted": "Recognition granted",
    "recognition_step": "Recognition step",
    "recognition_refused_or_debated": "Recognition refused or debated",
}

_CONTROLS_BUT_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"[ \t]+")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")
_SAFE_LINK = re.compile(r"^https?://[^\s/?#]+", re.IGNORECASE)
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")
# The end of a sentence: . ! or ? (and a closing quote), then a space before a capital.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]?(?=\s+[\"“‘'(]?[A-Z0-9])")
_HEADLINE_SEPARATORS = " \t.:;,|-–—"


def one_line(text: str | None, limit: int = TITLE_LIMIT) -> str:
    """A single line (monitor.text.one_line), at most ``limit`` characters (a title's by
    default)."""
    return text_line(text, limit)


def clean_text(text: str | None, limit: int = TEXT_LIMIT) -> str:
    """Multi-line text: CR/LF normalised, other controls removed, blank runs squeezed, capped."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROLS_BUT_NEWLINE.sub(" ", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return cap(_MANY_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip(), limit)


def safe_link(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) URL fit for an href, else None."""
    cleaned = one_line(url, URL_LIMIT)
    if cleaned and " " not in cleaned and _SAFE_LINK.match(cleaned) and len(cleaned) < URL_LIMIT:
        return cleaned
    return None


def safe_id(digest_id: str, limit: int = 200) -> str:
    """The delivery id as sent in headers and bodies: [A-Za-z0-9._=+-], others become "-".

    Ids made by the delivery stage are already in this alphabet, so this is the identity
    for them; it guards Message-ID and X-Monitor-Delivery against anything else.
    """
    return _ID_UNSAFE.sub("-", digest_id)[:limit] or "-"


def _aware(moment: datetime) -> datetime:
    """``moment``, a naive one taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@overload
def iso_utc(moment: datetime) -> str: ...
@overload
def iso_utc(moment: None) -> None: ...
@overload
def iso_utc(moment: datetime | None) -> str | None: ...
def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``; naive datetimes are taken as UTC."""
    if moment is None:
        return None
    return _aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


def seconds_utc(moment: datetime) -> str:
    """"2026-03-01 14:05:09Z": to the second, in UTC, for logs and tables; naive is UTC."""
    return _aware(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def human_time(moment: datetime | None, zone: tzinfo = UTC) -> str:
    """"2026-03-01 14:05 CET": minutes, in ``zone``, with its abbreviation; naive is UTC."""
    if moment is None:
        return "unknown"
    return _aware(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def human_utc(moment: datetime | None) -> str:
    return human_time(moment, UTC)


def _same_words(a: str, b: str) -> bool:
    def words(text: str) -> str:
        return " ".join(text.casefold().split()).strip(_HEADLINE_SEPARATORS + "!?\"'“”‘’")
    return words(a) == words(b)


def make_lead(summary: str | None, title: str | None = "", limit: int = LEAD_LIMIT) -> str:
    """PURE. A story's lead from its summary: one cleaned line, the headline dropped when the
    summary opens with it, cut at the last sentence end within ``limit`` characters (or, for
    a first sentence longer than that, at a word, with an ellipsis). "" when the summary says
    nothing more than the headline."""
    text = one_line(summary, TEXT_LIMIT)
    headline = one_line(title)
    if headline and text.casefold().startswith(headline.casefold()):
        text = text[len(headline):].lstrip(_HEADLINE_SEPARATORS)
    if not text or _same_words(text, headline):
        return ""
    if len(text) <= limit:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, limit)]
    if ends and ends[-1] >= limit // 3:
        return text[:ends[-1]]
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(_HEADLINE_SEPARATORS) + ELLIPSIS


def shown_link(url: str) -> str:
    """A stored link as alerts show it: no credentials, no click-tracking parameters."""
    return without_tracking(strip_credentials(url))


def category_label(category: str | None) -> str:
    if not category:
        return "Uncategorised"
    return CATEGORY_LABELS.get(category, one_line(category, NAME_LIMIT))


def _unique(names: Iterable[str]) -> list[str]:
    return [n for n in dict.fromkeys(names) if n]


@dataclass(frozen=True)
class OutletView:
    name: str
    title: str
    url: str
    link: str | None
    published: str


@dataclass(frozen=True)
class StoryView:
    """A Story with every string cleaned for display; what the templates see."""

    id: int
    topic: str
    title: str
    url: str
    link: str | None
    source_names: tuple[str, ...]
    outlets: tuple[OutletView, ...]
    published: str
    published_iso: str | None
    category: str | None
    category_label: str
    score: float
    actors: tuple[str, ...]
    actors_text: str      # the actors, or UNKNOWN_ACTOR for a grant or step by nobody named
    evidence: str
    lead: str
    show_evidence: bool   # the evidence adds something: it is not the headline again
    novelty: str          # "First: Kazakhstan removed ..." / "Follow-up of: ..." / ""
    evidence_source: str | None   # headline | lead | article; None for older stories
    from_article: bool    # the evidence was read in the article: the alert says so


def _outlet_view(source: StorySource, zone: tzinfo) -> OutletView:
    url = shown_link(source.url)
    return OutletView(name=one_line(source.source, NAME_LIMIT),
                      title=one_line(source.title, TITLE_LIMIT), url=one_line(url, URL_LIMIT),
                      link=safe_link(url), published=human_time(source.published, zone))


def story_view(story: Story, zone: tzinfo = UTC) -> StoryView:
    """Clean one story for rendering, its times in ``zone`` (PURE)."""
    outlets = tuple(_outlet_view(s, zone) for s in story.sources)
    url = shown_link(story.url)
    actors = tuple(_unique(one_line(a, NAME_LIMIT) for a in story.actors))
    title = one_line(story.title, TITLE_LIMIT)
    evidence = clean_text(story.evidence, EVIDENCE_LIMIT)
    return StoryView(
        id=story.id,
        topic=one_line(story.topic, NAME_LIMIT),
        title=title or "(untitled)",
        url=one_line(url, URL_LIMIT),
        link=safe_link(url),
        source_names=tuple(_unique(o.name for o in outlets)),
        outlets=outlets,
        published=human_time(story.published, zone),
        published_iso=iso_utc(story.published),
        category=one_line(story.category, NAME_LIMIT) or None,
        category_label=category_label(story.category),
        score=float(story.score),
        actors=actors,
        actors_text=", ".join(actors) or (
            UNKNOWN_ACTOR if actor_unknown(story.category, story.actors) else ""),
        evidence=evidence,
        lead=make_lead(story.summary, story.title),
        show_evidence=bool(evidence) and not _same_words(evidence, title),
        novelty=novelty_text(story),
        evidence_source=story.evidence_source,
        from_article=story.evidence_source == "article",
    )


def novelty_text(story: Story) -> str:
    """A story's place in the event ledger, one line: what it is the first report of, or
    which first report it follows ("" when it reports no step of the ledger)."""
    event = story.event
    if event is None or story.novelty is None:
        return ""
    step = one_line(f"{event.state} {KIND_LABELS.get(event.kind, event.kind)}", TITLE_LIMIT)
    if story.novelty == "first":
        return f"First: {step}"
    first = one_line(event.first_title, TITLE_LIMIT)
    return f"Follow-up of: {step}, first reported {day_text(event.first_seen)} ({first})"


def render_subject(digest: Digest) -> str:
    """The email subject: one line, no CR/LF, at most SUBJECT_LIMIT characters."""
    if digest.kind == "test":
        subject = f"[news-monitor] Test message for {one_line(digest.notifier, NAME_LIMIT)}"
    elif digest.kind == "health":
        first = clean_text(digest.text).split("\n", 1)[0]
        subject = f"[news-monitor] Source health: {first or 'notice'}"
    elif len(digest.stories) == 1:
        story = digest.stories[0]
        subject = (f"[news-monitor] {category_label(story.category)}: "
                   f"{one_line(story.title, TITLE_LIMIT) or '(untitled)'}")
    elif digest.stories:
        first = one_line(digest.stories[0].title, TITLE_LIMIT) or "(untitled)"
        subject = (f"[news-monitor] {len(digest.stories)} stories: {first} "
                   f"(+{len(digest.stories) - 1} more)")
    else:
        subject = "[news-monitor] No new stories"
    return one_line(subject, SUBJECT_LIMIT)


def _environment() -> jinja2.Environment:
    """A fresh Environment over the package's templates (HTML autoescaped)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("monitor", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",),
                                            disabled_extensions=("txt",),
                                            default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


class DigestRenderer:
    """Renders digests with one compiled set of templates, times in ``zone`` (a notifier's
    ``timezone``); reuse it to avoid recompiling."""

    def __init__(self, zone: tzinfo = UTC) -> None:
        self.zone = zone
        env = _environment()
        self._text = env.get_template("digest.txt")
        self._html = env.get_template("digest.html")

    def _context(self, digest: Digest) -> dict[str, Any]:
        return {
            "id": safe_id(digest.id),
            "notifier": one_line(digest.notifier, NAME_LIMIT),
            "kind": digest.kind,
            "created": human_time(digest.created_at, self.zone),
            "subject": render_subject(digest),
            "text": clean_text(digest.text),
            "stories": [story_view(s, self.zone) for s in digest.stories],
        }

    def text(self, digest: Digest) -> str:
        return self._text.render(self._context(digest))

    def html(self, digest: Digest) -> str:
        return self._html.render(self._context(digest))


def render_text(digest: Digest) -> str:
    """The plain-text body (also what the file notifier writes)."""
    return DigestRenderer().text(digest)


def render_html(digest: Digest) -> str:
    """The HTML body; every piece of feed text is escaped by Jinja2's autoescape."""
    return DigestRenderer().html(digest)


def story_payload(story: Story) -> dict[str, Any]:
    """One story of the JSON contract body, plus the added ``lead``, ``outlets`` and
    ``evidence_source`` (where the evidence was read: "headline", "lead" or "article")."""
    view = story_view(story)
    return {
        "id": story.id,
        "topic": view.topic,
        "title": view.title,
        "url": view.url,
        "sources": list(view.source_names),
        "published": view.published_iso,
        "category": view.category,
        "score": view.score,
        "actors": list(view.actors),
        "actor_unknown": actor_unknown(story.category, story.actors),
        "evidence": view.evidence,
        "evidence_source": view.evidence_source,
        "lead": view.lead,
        "novelty": story.novelty,
        "event": event_payload(story),
        "outlets": [
            {"source": outlet.name, "url": outlet.url, "title": outlet.title,
             "published": iso_utc(s.published)}
            for outlet, s in zip(view.outlets, story.sources, strict=True)
        ],
    }


def event_payload(story: Story) -> dict[str, Any] | None:
    """The webhook's ``event``: the ledger entry the story reports (None: no step)."""
    event = story.event
    if event is None:
        return None
    return {"state": one_line(event.state, NAME_LIMIT), "kind": event.kind,
            "text": novelty_text(story), "first_title": one_line(event.first_title),
            "first_reported": iso_utc(event.first_seen),
            "first_url": one_line(shown_link(event.first_url), URL_LIMIT)}


def digest_payload(digest: Digest, sent_at: datetime) -> dict[str, Any]:
    """The JSON contract body (DESIGN.md "Alerts"); ``kind``, ``text``, ``created_at`` added."""
    return {
        "id": safe_id(digest.id),
        "notifier": digest.notifier,
        "sent_at": iso_utc(sent_at),
        "created_at": iso_utc(digest.created_at),
        "kind": digest.kind,
        "text": clean_text(digest.text),
        "stories": [story_payload(s) for s in digest.stories],
    }
