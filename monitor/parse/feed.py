"""Feed bodies -> ParsedFeed, with feedparser (RSS 0.9x/1.0/2.0, Atom, CDF) and JSON Feed.

The body is defused before feedparser sees it: DOCTYPE internal subsets are rebuilt from
small, reference-free entity declarations only (no billion laughs, no quadratic blowup, no
external entities), and a feed with more than MAX_ITEMS entries is cut after the first
MAX_ITEMS so that a 100k-item feed cannot hold a worker for half a minute.
"""

from __future__ import annotations

import calendar
import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.errors import ParseError
from monitor.parse.fast import parse_fast
from monitor.parse.sanitize import (
    check_shape,
    clean_guid,
    clean_summary,
    clean_title,
    clean_url,
    first_unique,
    hash_guid,
    parse_errors,
    parse_iso_datetime,
    sane_datetime,
)
from monitor.types import ParsedFeed, ParsedItem
from monitor.urls import without_credentials

MAX_ITEMS = 1_000           # entries kept per feed (the first ones, as the feed orders them)
MAX_ENTITY_EXPANSION = 1_000_000  # total bytes that declared entities may expand to
MAX_ENTITIES = 64          # more internal entity declarations than this: keep none

# feedparser flags these although the document parsed fine (an encoding notice).
_BENIGN_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
_NAME_START = re.compile(rb"[A-Za-z_]")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_SAFE_ENTITY = re.compile(rb"<!ENTITY\s+([A-Za-z_][\w.-]{0,63})\s+\"([^\"&%<]{0,64})\"\s*>")
_ITEM_OPEN = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s>/]")
_ITEM_CLOSE = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>")


def parse_feed(content: bytes, url: str, content_type: str | None = None, *,
               fast_path: bool = True) -> ParsedFeed:
    """Parse an RSS/Atom/RDF/JSON feed body fetched from ``url``.

    With ``fast_path`` (the default) a well-formed RSS 2.0/Atom 1.0/RSS 1.0 document is read
    with lxml (monitor.parse.fast), which gives the same items as feedparser for a fraction
    of its CPU (benchmarks/parse.py); whatever it declines goes through feedparser.

    Raises ParseError (and nothing else) when the body is empty, too large, not a feed, or
    so malformed that no entry can be read. A malformed feed that still yields entries is
    accepted. At most MAX_ITEMS items are returned, the first ones of the feed.
    """
    with parse_errors("feed", content):
        if _looks_like_json(content, content_type):
            return _parse_json_feed(content, url)
        return _parse_xml_feed(content, url, content_type, fast_path)


# --- XML feeds (feedparser) -------------------------------------------------------------


def _parse_xml_feed(content: bytes, url: str, content_type: str | None,
                    fast_path: bool) -> ParsedFeed:
    data = _truncate_items(_defuse_doctype(content), MAX_ITEMS)
    if fast_path:
        fast = parse_fast(data, url, content_type, MAX_ITEMS)
        if fast is not None:
            return fast
    check_shape(data, html=False)
    # No content-location: feedparser would then also resolve <guid> values against the
    # feed URL, and a guid must not change when the feed moves. Links are resolved below.
    headers = {}
    if content_type:
        headers["content-type"] = content_type
    # A stream, never bytes or str: feedparser opens a str/bytes that names a file or URL.
    result = feedparser.parse(
        io.BytesIO(data),
        response_headers=headers,
        sanitize_html=False,          # we reduce everything to plain text ourselves
        resolve_relative_uris=False,  # only for links inside HTML content, which we drop
    )
    entries = result.get("entries") or []
    if not entries:
        if not result.get("version"):
            if looks_like_html(data, content_type):
                raise ParseError(f"this is an HTML page, not a feed: try `monitor sources "
                                 f"discover {without_credentials(url)}` to list the feeds "
                                 "it advertises")
            reason = f": {_bozo_reason(result)}" if result.get("bozo") else ""
            raise ParseError(f"not a feed (no RSS, Atom or RDF root element){reason}")
        if result.get("bozo") and not isinstance(result.get("bozo_exception"), _BENIGN_BOZO):
            raise ParseError(f"malformed feed with no readable entry: {_bozo_reason(result)}")
    channel = result.get("feed") or {}
    title_type = (channel.get("title_detail") or {}).get("type") or ""
    title = clean_title(channel.get("title"), is_html="html" in title_type)
    items = first_unique((_entry_item(e, url) for e in entries), MAX_ITEMS)
    return ParsedFeed(title=title, items=items)


def looks_like_html(content: bytes, content_type: str | None) -> bool:
    """PURE. True for a body served as text/html or whose first element is <html> (after
    any XML declaration, comments and DOCTYPE)."""
    if content_type and content_type.split(";")[0].strip().lower() in ("text/html",
                                                                       "application/xhtml+xml"):
        return True
    start = _prolog_end(content)
    head = content[:start].lower()
    return content[start:start + 5].lower() == b"<html" or b"<!doctype html" in head


def _bozo_reason(result: Mapping[str, Any]) -> str:
    exc = result.get("bozo_exception")
    if exc is None:
        return "malformed"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _entry_item(entry: Mapping[str, Any], feed_url: str) -> ParsedItem | None:
    title_detail = entry.get("title_detail") or {}
    title = clean_title(entry.get("title"), is_html="html" in (title_detail.get("type") or ""))
    summary_text, summary_type = _entry_summary(entry)
    summary = clean_summary(summary_text, is_html="html" in summary_type or "<" in summary_text)
    # feedparser's link: the (last) rel="alternate" HTML link, else <link>, else a
    # permalink <guid>/<id>; resolved against the feed URL, http(s) only.
    link = clean_url(entry.get("link"), feed_url)
    guid = clean_guid(entry.get("id")) or link
    if not (title or link or summary):
        return None
    published = _entry_published(entry)
    return ParsedItem(guid=guid or hash_guid(title, summary), url=link, title=title,
                      summary=summary, published=published)


def _entry_summary(entry: Mapping[str, Any]) -> tuple[str, str]:
    summary = entry.get("summary")
    if summary:
        detail = entry.get("summary_detail") or {}
        return str(summary), str(detail.get("type") or "text/html")
    for content in entry.get("content") or []:
        if content.get("value"):
            return str(content["value"]), str(content.get("type") or "text/html")
    return "", "text/plain"


def _entry_published(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict maps a missing updated_parsed to published_parsed, warning
        parsed = dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)
        if parsed:
            try:
                return sane_datetime(datetime.fromtimestamp(calendar.timegm(parsed), UTC))
            except (OverflowError, ValueError, TypeError, OSError):
                continue
    return None


# --- JSON Feed (https://jsonfeed.org/version/1.1), which feedparser 6 does not read -----


def _looks_like_json(content: bytes, content_type: str | None) -> bool:
    head = content[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        return False
    return bool(content_type and "json" in content_type.lower()) or b"jsonfeed.org" in content[
        :4096]


def _parse_json_feed(content: bytes, url: str) -> ParsedFeed:
    try:
        doc = json.loads(content.decode("utf-8-sig", errors="replace"))
    except ValueError as exc:
        raise ParseError(f"invalid JSON feed: {exc}"[:200]) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise ParseError("not a JSON Feed (no items list)")
    base = clean_url(_str(doc.get("feed_url")), url) or url
    items = (_json_item(x, base) for x in doc["items"][:MAX_ITEMS] if isinstance(x, dict))
    return ParsedFeed(title=clean_title(_str(doc.get("title"))),
                      items=first_unique(items, MAX_ITEMS))


def _json_item(item: Mapping[str, Any], base: str) -> ParsedItem | None:
    title = clean_title(_str(item.get("title")))
    if item.get("summary"):
        summary = clean_summary(_str(item.get("summary")), is_html=False)
    elif item.get("content_html"):
        summary = clean_summary(_str(item.get("content_html")))
    else:
        summary = clean_summary(_str(item.get("content_text")), is_html=False)
    link = clean_url(_str(item.get("url")) or _str(item.get("external_url")), base)
    guid = clean_guid(_str(item.get("id"))) or link
    if not (title or link or summary):
        return None
    published = None
    for key in ("date_published", "date_modified"):
        published = published or parse_iso_datetime(_str(item.get(key)))
    return ParsedItem(guid=guid or hash_guid(title, summary), url=link, title=title,
                      summary=summary, published=published)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


# --- shared ------------------------------------------------------------------------------


def _defuse_doctype(content: bytes) -> bytes:
    """Rebuild the DOCTYPE with only small, reference-free internal entities.

    Removes external entities (SYSTEM/PUBLIC), parameter entities, entities referring to
    other entities (billion laughs) and entities whose uses would expand past
    MAX_ENTITY_EXPANSION bytes (quadratic blowup). A document without a DOCTYPE is
    returned unchanged.
    """
    start = _prolog_end(content)
    head = content[:start]
    doctype = _DOCTYPE.search(head)
    if doctype is None:
        return content
    body = content[start:]
    entities: list[bytes] = []
    expansion = 0
    for match in _SAFE_ENTITY.finditer(head, doctype.start()):
        if len(entities) >= MAX_ENTITIES:
            return head[: doctype.start()] + body
        name, value = match.groups()
        expansion += len(value) * body.count(b"&" + name + b";")
        entities.append(match.group(0))
    if expansion > MAX_ENTITY_EXPANSION:
        entities = []
    rebuilt = b""
    if entities:
        rebuilt = b"<!DOCTYPE feed [\n" + b"\n".join(entities) + b"\n]>\n"
    return head[: doctype.start()] + rebuilt + body


def _prolog_end(content: bytes) -> int:
    """Offset of the root element's start tag, skipping comments, PIs and the DOCTYPE."""
    pos, size = 0, len(content)
    while True:
        lt = content.find(b"<", pos)
        if lt < 0 or lt + 1 >= size:
            return size
        if content.startswith(b"<!--", lt):
            end = content.find(b"-->", lt + 4)
            if end < 0:
                return size
            pos = end + 3
        elif _NAME_START.match(content, lt + 1):
            return lt
        else:
            pos = lt + 1


def _truncate_items(content: bytes, limit: int) -> bytes:
    """Cut a feed with more than ``limit`` entries down to its first ``limit`` entries.

    The span from the start of entry ``limit + 1`` to the end of the last entry is removed;
    with sibling entries (every real feed) the result stays well-formed, and when it is not
    feedparser's lenient parser still reads the kept entries.
    """
    if content.count(b"item") + content.count(b"entry") <= limit:
        return content  # every entry's start tag holds one of the two words: too few
    cut = None
    for count, match in enumerate(_ITEM_OPEN.finditer(content), start=1):
        if count == limit + 1:
            cut = match.start()
            break
    if cut is None:
        return content
    last_end = None
    for match in _ITEM_CLOSE.finditer(content, cut):
        last_end = match.end()
    if last_end is None:
        return content[:cut]
    return content[:cut] + content[last_end:]
