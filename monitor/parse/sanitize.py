"""PURE: make text and links from untrusted feeds and pages safe to store and alert on.

Everything a source says passes through here before it becomes a ParsedItem: HTML is
reduced to plain text, entities are decoded, and titles and summaries become one line
(monitor.text.one_line: control characters and NUL removed, whitespace, CR/LF included,
collapsed to single spaces, lengths capped); only http(s) links survive, without any
``user:password@``.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from lxml import etree

from monitor.errors import ParseError
from monitor.text import CONTROL, is_plain_line, one_line, utf8_length
from monitor.types import ParsedItem
from monitor.urls import strip_credentials

MAX_TITLE = 500
MAX_SUMMARY = 2_000
# In UTF-8 bytes: PostgreSQL indexes a value of at most 2,704 bytes, and a longer one fails
# the poll's whole commit. A guid is indexed beside its source's name (up to 200 characters,
# 800 bytes).
MAX_URL = 2_048
MAX_GUID = 1_800
MAX_DEPTH = 250          # element nesting; libxml2 stops at 256, real documents stay under 100
MAX_ELEMENTS = 100_000   # elements per document; real feeds and pages have under 20,000
MIN_YEAR, MAX_YEAR = 1990, 2100   # dates outside are a broken clock or feed: unknown
# Read at most this much raw markup per field: a 1 MB title is cut before it is parsed.
MAX_RAW = 64_000

# Any run of whitespace, including CR/LF, tabs and the Unicode line/paragraph separators.
_SPACE = re.compile(r"\s+")
_TAG_HINT = re.compile(r"<[A-Za-z!/?]")
_SAFE_SCHEMES = ("http", "https")
# Elements whose text is never prose, comments and CDATA wrappers: removed with content.
_SKIPPED = re.compile(
    r"<(?:(script|style|template|noscript|iframe|object|head)\b[^>]*>.*?</\1\s*>"
    r"|(?:script|style)\b[^>]*>.*"    # an unclosed script or style runs to the end
    r"|!--.*?(?:-->|$))",
    re.IGNORECASE | re.DOTALL)
# Block-level tags separate words.
_BLOCK = re.compile(
    r"<(?:/?(?:p|br|div|li|ul|ol|tr|td|th|table|h[1-6]|blockquote|section|article|header"
    r"|footer|hr|dd|dt)\b[^>]*>)", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z][^>]*>|<![^>]*>|<\?[^>]*>")


def html_to_text(markup: str, raw_limit: int = MAX_RAW) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded (not yet collapsed).

    Only the first ``raw_limit`` characters of markup are read. Regular expressions with no
    nested quantifiers, over a bounded input: linear enough for hostile markup, and ten
    times faster than html.parser on real feeds.
    """
    markup = markup[:raw_limit]
    if "<" in markup and _TAG_HINT.search(markup):
        markup = _SKIPPED.sub(" ", markup)
        markup = _BLOCK.sub(" ", markup)
        markup = _TAG.sub("", markup)
    return html.unescape(markup)


def clean_title(text: str | None, *, is_html: bool = False) -> str:
    """A single-line, plain-text title of at most MAX_TITLE characters."""
    if text and is_html:
        text = html_to_text(text, MAX_TITLE * 8)
    return one_line(text, MAX_TITLE)


def clean_summary(text: str | None, *, is_html: bool = True) -> str:
    """A plain-text summary of at most MAX_SUMMARY characters."""
    if text and is_html:
        text = html_to_text(text, MAX_SUMMARY * 8)
    return one_line(text, MAX_SUMMARY)


def clean_url(link: str | None, base: str = "") -> str:
    """An absolute http(s) URL resolved against ``base``, or "" when unusable or unsafe.

    The result never has a ``user:password@``: a relative link resolved against a source
    URL with credentials would carry them into every alert, and a link that brings its
    own (``http://trusted.example@elsewhere.example/``) is shown for where it goes."""
    if not link:
        return ""
    if _plain_http_url(link):
        return link
    link = CONTROL.sub("", link[: MAX_URL * 2])
    link = re.sub(r"[\r\n\t]", "", link).strip().replace(" ", "%20")
    if not link:
        return ""
    try:
        absolute = link if not base or link.startswith(("http://", "https://")) else urljoin(
            base, link)
        absolute = strip_credentials(absolute)
        parts = urlsplit(absolute)
    except ValueError:  # e.g. an invalid IPv6 netloc
        return ""
    if parts.scheme.lower() not in _SAFE_SCHEMES or not parts.netloc:
        return ""
    if utf8_length(absolute) > MAX_URL or _SPACE.search(absolute):
        return ""
    return absolute


def clean_guid(guid: str | None) -> str:
    """An identifier as the source gave it, minus control characters, single-line and capped."""
    if not guid:
        return ""
    guid = guid[: MAX_GUID * 2]
    if not is_plain_line(guid):
        guid = _SPACE.sub(" ", CONTROL.sub("", guid)).strip()
    if guid.isascii():
        return guid[:MAX_GUID]
    return guid.encode()[:MAX_GUID].decode(errors="ignore")   # a character cut: dropped


def _plain_http_url(link: str) -> bool:
    """True for an absolute http(s) URL that clean_url would return unchanged.

    Printable ASCII without spaces, brackets or "@": nothing to remove or escape, no
    credentials, and urlsplit cannot fail on it; the host is what follows "//" up to the
    first "/", "?" or "#".
    """
    if link.startswith("https://"):
        start = 8
    elif link.startswith("http://"):
        start = 7
    else:
        return False
    return (len(link) > start and link[start] not in "/?#" and len(link) <= MAX_URL
            and link.isascii() and link.isprintable() and " " not in link
            and "[" not in link and "]" not in link and "@" not in link)


def hash_guid(title: str, summary: str) -> str:
    """The identifier of an entry that has neither id nor link: a hash of its words."""
    return "sha1:" + hashlib.sha1(f"{title}\n{summary}".encode()).hexdigest()


def sane_datetime(value: datetime) -> datetime | None:
    """The datetime in UTC, or None when before 1990 or after 2100 (a broken clock or feed)."""
    return value if MIN_YEAR <= value.year <= MAX_YEAR else None


def parse_iso_datetime(text: str) -> datetime | None:
    """An ISO 8601 / RFC 3339 timestamp as aware UTC, or None when unreadable or absurd."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip()[:64].replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return sane_datetime(value.astimezone(UTC))
    except (ValueError, OverflowError):
        return None


def check_shape(content: bytes, *, html: bool) -> None:
    """Refuse a document nested too deeply or with too many elements, before a slow parser.

    feedparser and BeautifulSoup spend seconds to minutes on 100,000 nested elements; lxml
    walks the same document in milliseconds, without loading DTDs, resolving entities or
    touching the network. Raises ParseError; a document lxml cannot read at all passes
    (the real parser then decides).
    """
    depth = deepest = count = 0
    try:
        events = etree.iterparse(
            io.BytesIO(content), events=("start", "end"), html=html, recover=True,
            huge_tree=False, resolve_entities=False, no_network=True, load_dtd=False)
        for event, _ in events:
            if event == "end":
                depth -= 1
                continue
            depth += 1
            count += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                raise ParseError(f"document nested too deeply (more than {MAX_DEPTH} levels)")
            if count > MAX_ELEMENTS:
                raise ParseError(f"document too large (more than {MAX_ELEMENTS} elements)")
    except etree.LxmlError:
        return


def first_unique(items: Iterable[ParsedItem | None], max_items: int) -> tuple[ParsedItem, ...]:
    """The first `max_items` usable items; a guid seen twice keeps its first item."""
    seen: set[str] = set()
    kept: list[ParsedItem] = []
    for item in items:
        if item is None or item.guid in seen:
            continue
        seen.add(item.guid)
        kept.append(item)
        if len(kept) >= max_items:
            break
    return tuple(kept)


MAX_BODY = 16 * 1024 * 1024  # refuse to parse more than this (the fetcher caps at 10 MiB)


@contextmanager
def parse_errors(kind: str, content: bytes) -> Iterator[None]:
    """Refuse an empty or oversized body, and turn any library failure while parsing it
    into a ParseError: the parse stage raises nothing else."""
    if not content or not content.strip():
        raise ParseError("empty body")
    if len(content) > MAX_BODY:
        raise ParseError(f"body too large to parse ({len(content)} bytes)")
    try:
        yield
    except ParseError:
        raise
    except RecursionError as exc:
        raise ParseError(f"{kind} nested too deeply") from exc
    except MemoryError as exc:
        raise ParseError(f"{kind} too large to parse") from exc
    except Exception as exc:
        raise ParseError(f"{kind} parser failed: {type(exc).__name__}: {exc}"[:300]) from exc
