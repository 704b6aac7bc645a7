"""PURE: make text and links from untrusted feeds and pages safe to store and alert on.

Everything a source says passes through here before it becomes a ParsedItem: HTML is
reduced to plain text, entities are decoded, control characters and NUL are removed,
whitespace (CR/LF included) is collapsed to single spaces, lengths are capped, and only
http(s) links survive.
"""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from lxml import etree

from monitor.errors import ParseError

MAX_TITLE = 500
MAX_SUMMARY = 2_000
MAX_URL = 2_048
MAX_GUID = 2_048
MAX_DEPTH = 250          # element nesting; libxml2 stops at 256, real documents stay under 100
MAX_ELEMENTS = 100_000   # elements per document; real feeds and pages have under 20,000
MIN_YEAR, MAX_YEAR = 1990, 2100   # dates outside are a broken clock or feed: unknown
# Work on at most this much raw markup per field: a 1 MB title is cut before it is parsed.
MAX_RAW = 64_000

# C0 and C1 control characters except the whitespace ones (collapsed separately), DEL,
# lone surrogates, and the Unicode non-characters U+FFFE/U+FFFF.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Any run of whitespace, including CR/LF, tabs and the Unicode line/paragraph separators.
_SPACE = re.compile(r"\s+")
_TAG_HINT = re.compile(r"<[A-Za-z!/?]")
_SAFE_SCHEMES = ("http", "https")
# Elements whose text is never prose.
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "iframe", "object", "head"})
_BLOCK_TAGS = frozenset({
    "p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "table", "h1", "h2", "h3", "h4",
    "h5", "h6", "blockquote", "section", "article", "header", "footer", "hr", "dd", "dt",
})


class _TextExtractor(HTMLParser):
    """Collects the character data of an HTML fragment, skipping scripts and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded (not yet collapsed)."""
    markup = markup[:MAX_RAW]
    if not _TAG_HINT.search(markup):
        return html.unescape(markup)
    extractor = _TextExtractor()
    try:
        extractor.feed(markup)
        extractor.close()
    except Exception:  # html.parser is lenient, but never trust it: crude strip
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return "".join(extractor.parts)


def clean_text(text: str | None, limit: int) -> str:
    """Remove control characters, collapse whitespace to single spaces, cap at ``limit``."""
    if not text:
        return ""
    text = _CONTROL.sub("", text[: max(limit * 4, MAX_RAW)])
    text = _SPACE.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def clean_title(text: str | None, *, is_html: bool = False) -> str:
    """A single-line, plain-text title of at most MAX_TITLE characters."""
    if text and is_html:
        text = html_to_text(text)
    return clean_text(text, MAX_TITLE)


def clean_summary(text: str | None, *, is_html: bool = True) -> str:
    """A plain-text summary of at most MAX_SUMMARY characters."""
    if text and is_html:
        text = html_to_text(text)
    return clean_text(text, MAX_SUMMARY)


def clean_url(link: str | None, base: str = "") -> str:
    """An absolute http(s) URL resolved against ``base``, or "" when unusable or unsafe."""
    if not link:
        return ""
    link = _CONTROL.sub("", link[: MAX_URL * 2])
    link = re.sub(r"[\r\n\t]", "", link).strip().replace(" ", "%20")
    if not link:
        return ""
    try:
        absolute = urljoin(base, link) if base else link
        parts = urlsplit(absolute)
    except ValueError:  # e.g. an invalid IPv6 netloc
        return ""
    if parts.scheme.lower() not in _SAFE_SCHEMES or not parts.netloc:
        return ""
    if len(absolute) > MAX_URL or _SPACE.search(absolute):
        return ""
    return absolute


def clean_guid(guid: str | None) -> str:
    """An identifier as the source gave it, minus control characters, single-line and capped."""
    if not guid:
        return ""
    guid = _CONTROL.sub("", guid[: MAX_GUID * 2])
    return _SPACE.sub(" ", guid).strip()[:MAX_GUID]


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
