"""A fast path for the common feed: well-formed RSS 2.0, Atom 1.0 or RSS 1.0, read with lxml.

Many times cheaper than our feedparser path (benchmarks/parse.py). It reads only what
it can read exactly as the feedparser path does (same title, link, guid, published and
summary; tests/test_fixtures.py checks this on every fixture feed it accepts) and declines
everything else by returning None: a DOCTYPE, xml:base, a charset that feedparser might
weigh differently, ill-formed XML, an unknown root, XHTML text, repeated or conflicting
title/summary elements, C1 control characters. parse_feed then uses feedparser.

The rules follow feedparser 6: an RSS <guid> without isPermaLink="false" (and an Atom <id>)
is the link when the entry has no link; an Atom entry's link is its last rel="alternate"
HTML link; RSS titles that look like HTML are HTML; dates are parsed by feedparser's own
date parser (its two common forms, RFC 822 and W3C-DTF, are read here the same way without
it); published, else updated (dc:date, atom:updated).

Cost: each entry's children are sorted into slots in one pass; title and summary candidates
are searched deeper only when a child has children of its own. The common RSS item (at most
one each of title, link, guid, description, content:encoded, pubDate and dc:date, no child
with children) is read without the slots, in one pass over its children. Plain text without
markup, entities or control characters skips the regular expressions.

One piece (over 400 lines) because its three readers (RSS 2.0, Atom, RSS 1.0) must decline
and read exactly alike, on the same small helpers, to stay equal to the feedparser path.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Protocol

from lxml import etree

from monitor.parse.sanitize import (
    MAX_SUMMARY,
    MAX_TITLE,
    clean_guid,
    clean_summary,
    clean_title,
    clean_url,
    first_unique,
    hash_guid,
    sane_datetime,
)
from monitor.text import is_plain_line
from monitor.types import ParsedFeed, ParsedItem

try:  # feedparser's own heuristics, so that both paths agree exactly
    from feedparser.datetimes import _parse_date as _feedparser_date
    from feedparser.mixin import _FeedParserMixin

    _looks_like_html = _FeedParserMixin.looks_like_html
except ImportError:  # pragma: no cover - a feedparser without them: no fast path
    _feedparser_date = None
    _looks_like_html = None

ATOM = "http://www.w3.org/2005/Atom"
RSS1 = "http://purl.org/rss/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DCTERMS = "http://purl.org/dc/terms/"
MEDIA = "http://search.yahoo.com/mrss/"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
# Elements feedparser reads as an entry's title or summary, wherever they sit in the entry.
_TITLE_TAGS = ("title", f"{{{RSS1}}}title", f"{{{ATOM}}}title", f"{{{DC}}}title",
               f"{{{MEDIA}}}title", "{http://search.yahoo.com/mrss}title")
_SUMMARY_TAGS = ("description", f"{{{RSS1}}}description", f"{{{ATOM}}}summary",
                 f"{{{DC}}}description", f"{{{ITUNES}}}summary", f"{{{MEDIA}}}description",
                 "{http://search.yahoo.com/mrss}description")

# Looked for, case-blind, in the first 4 KiB (and xml:base anywhere).
_PROLOG_TRAPS = (b"<!doctype", b"<!entity", b"xml:base")
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([\w.:-]+)["']""")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
# feedparser decodes a (double-escaped) entity left in a link or guid: "&amp;amp;" -> "&".
_ENTITY_LEFT = re.compile(r"&#?\w+;")
_C1 = re.compile("[\x80-\x9f]")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_TYPE_ALIASES = {"text": "text/plain", "html": "text/html", "xhtml": "application/xhtml+xml"}
# Children an item may carry that feedparser would read into title/link/id/dates in ways
# this path does not model: their presence makes the fast path decline.
_RSS_ITEM_DECLINE = frozenset({
    f"{{{ATOM}}}link", f"{{{ATOM}}}id", f"{{{ATOM}}}title", f"{{{ATOM}}}updated",
    f"{{{ATOM}}}published", f"{{{DC}}}title", f"{{{DCTERMS}}}issued",
    f"{{{DCTERMS}}}modified", f"{{{DCTERMS}}}created", "id", "published", "updated",
    "issued", "modified", "created",
})
# Entry children by slot, read in one pass: title-like and summary-like elements, and the
# single elements each format takes its link, id, dates and content from.
_TITLE, _SUMMARY, _LINK, _GUID, _PUBDATE, _DCDATE, _CONTENT, _PUBLISHED, _UPDATED = range(9)
_TEXT_SLOTS = MappingProxyType({**dict.fromkeys(_TITLE_TAGS, _TITLE),
                                **dict.fromkeys(_SUMMARY_TAGS, _SUMMARY)})
_RSS_SLOTS = MappingProxyType({**_TEXT_SLOTS, "link": _LINK, "guid": _GUID,
                               "pubDate": _PUBDATE, f"{{{DC}}}date": _DCDATE,
                               f"{{{CONTENT}}}encoded": _CONTENT})
_RDF_SLOTS = MappingProxyType({**_TEXT_SLOTS, f"{{{RSS1}}}link": _LINK,
                               f"{{{DC}}}date": _DCDATE, f"{{{CONTENT}}}encoded": _CONTENT})
_ATOM_SLOTS = MappingProxyType({**_TEXT_SLOTS, f"{{{ATOM}}}link": _LINK,
                                f"{{{ATOM}}}id": _GUID, f"{{{ATOM}}}published": _PUBLISHED,
                                f"{{{ATOM}}}updated": _UPDATED,
                                f"{{{ATOM}}}content": _CONTENT})
_CONTENT_ENCODED = f"{{{CONTENT}}}encoded"
_DC_DATE = f"{{{DC}}}date"
_ATOM_ENTRY_DECLINE = frozenset({f"{{{DC}}}title", f"{{{DC}}}date"})
_MONTHS = MappingProxyType({name: f"{number:02d}" for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)})
# The RFC 822 form nearly every RSS feed uses: "Tue, 03 Jun 2025 09:15:00 GMT" / "+0200",
# and the zone names feedparser knows that feeds use (it reads an unknown name as GMT).
_ZONES = MappingProxyType({"GMT": "+00:00", "UTC": "+00:00", "UT": "+00:00", "Z": "+00:00",
                           "EST": "-05:00", "EDT": "-04:00", "CST": "-06:00", "CDT": "-05:00",
                           "MST": "-07:00", "MDT": "-06:00", "PST": "-08:00", "PDT": "-07:00"})
_RFC822 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d\d?) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct"
    r"|Nov|Dec) (\d{4}) (\d\d):(\d\d):(\d\d) (?:(GMT|UTC|UT|Z|[ECMP][SD]T)|([+-]\d\d)(\d\d))",
    re.ASCII)
# The W3C-DTF form of Atom and dc:date: "2025-06-03T09:15:00Z", "...09:15:00.5+02:00".
_W3CDTF = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|([+-])\d\d:\d\d)",
                     re.ASCII)


class _Decline(Exception):
    """The fast path cannot promise feedparser's answer for this document."""


def parse_fast(content: bytes, url: str, content_type: str | None = None,
               max_items: int = 1_000) -> ParsedFeed | None:
    """The feed read with lxml, or None when the feedparser path must read it instead."""
    if _looks_like_html is None or _feedparser_date is None:
        return None
    try:
        return _parse(content, url, content_type, max_items)
    except _Decline:
        return None
    except Exception:  # ill-formed XML (lxml) or anything unforeseen: feedparser decides
        return None


def _parse(content: bytes, url: str, content_type: str | None, max_items: int) -> ParsedFeed:
    head = content[:4096]
    lowered = head.lower()
    if any(trap in lowered for trap in _PROLOG_TRAPS) or b"xml:base" in content:
        raise _Decline
    declared = _XML_ENCODING.match(head)
    header = _CHARSET.search(content_type or "")
    document_charset = declared.group(1).decode().lower() if declared else "utf-8"
    media_type = (content_type or "").split(";")[0].strip().lower()
    if (header and header.group(1).lower() != document_charset) or (
            media_type.startswith("text/") and not header and not content.isascii()):
        # feedparser weighs HTTP charset, declaration and BOM by RFC 3023; leave it to it.
        raise _Decline
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        raise _Decline
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, recover=False, remove_comments=True,
                             remove_pis=True)
    root = etree.fromstring(content, parser)
    if root.tag == "rss":
        return _rss(root, url, max_items)
    if root.tag == f"{{{ATOM}}}feed":
        return _atom(root, url, max_items)
    if root.tag == f"{{{RDF}}}RDF":
        return _rdf(root, url, max_items)
    raise _Decline


# --- RSS 2.0 / 0.9x -----------------------------------------------------------------------


def _rss(root: Any, url: str, max_items: int) -> ParsedFeed:
    channels = root.findall("channel")
    if len(channels) != 1 or root.find("item") is not None:
        raise _Decline
    channel = channels[0]
    title = _rss_title(_only(channel, "title"))
    items = [_rss_item(el, url) for el in channel.iterfind("item")]
    return ParsedFeed(title=title, items=first_unique(items, max_items))


def _rss_item(item: Any, url: str) -> ParsedItem | None:
    """The item as feedparser reads it. Most items hold at most one each of title, link,
    guid, description, content:encoded, pubDate and dc:date, none with children, and
    children read as nothing else (category, author ...): read in one pass here, as the
    slots below would read them."""
    title_el = link_el = guid_el = summary_el = content_el = date_el = dc_date_el = None
    for child in item:
        tag = child.tag
        if len(child):
            return _rss_item_by_slots(item, url)
        if tag == "title" and title_el is None:
            title_el = child
        elif tag == "link" and link_el is None:
            link_el = child
        elif tag == "guid" and guid_el is None:
            guid_el = child
        elif tag == "description" and summary_el is None:
            summary_el = child
        elif tag == "pubDate" and date_el is None:
            date_el = child
        elif tag == _CONTENT_ENCODED and content_el is None:
            content_el = child
        elif tag == _DC_DATE and dc_date_el is None:
            dc_date_el = child
        elif tag.__class__ is not str or tag in _RSS_SLOTS or tag in _RSS_ITEM_DECLINE:
            return _rss_item_by_slots(item, url)
    if title_el is None:
        title = ""
    else:
        title = _plain_text(title_el, MAX_TITLE) or _element_text(title_el, clean_title,
                                                                  rss=True)
    summary = "" if summary_el is None else _summary_text(summary_el)
    if not summary and content_el is not None:
        summary = _summary_text(content_el)
    published = _date(date_el) or _date(dc_date_el)
    return _rss_fields(title, link_el, guid_el, summary, published, url)


def _rss_item_by_slots(item: Any, url: str) -> ParsedItem | None:
    slots, nested = _slots(item, _RSS_SLOTS, _RSS_ITEM_DECLINE)
    title = _pick_title(item, slots, nested, rss=True)
    link_el = _one(slots, _LINK)
    guid_el = _one(slots, _GUID)
    summary = _pick_summary(item, slots, nested, f"{{{CONTENT}}}encoded")
    published = _date(_one(slots, _PUBDATE)) or _date(_one(slots, _DCDATE))
    return _rss_fields(title, link_el, guid_el, summary, published, url)


def _rss_fields(title: str, link_el: Any, guid_el: Any, summary: str,
                published: datetime | None, url: str) -> ParsedItem | None:
    """An RSS item from its title, summary and date, and its link and guid elements: the
    guid is the link when there is none (unless isPermaLink="false")."""
    guid_text = _text(guid_el)
    if link_el is not None:
        link_text = _text(link_el)
        if not link_text.strip() or len(link_el):
            raise _Decline
        link = clean_url(link_text, url)
    elif guid_el is not None and guid_el.get("isPermaLink", "true") == "true":
        link = clean_url(guid_text, url)
    else:
        link = ""
    return _item(clean_guid(guid_text), link, title, summary, published)


def _rss_title(element: Any) -> str:
    if element is None:
        return ""
    if len(element):
        raise _Decline
    text = _text(element)
    return clean_title(text, is_html=_html_like(text))


# --- Atom 1.0 -----------------------------------------------------------------------------


def _atom(root: Any, url: str, max_items: int) -> ParsedFeed:
    title = _atom_text(_only(root, f"{{{ATOM}}}title"), clean_title)
    items = [_atom_entry(el, url) for el in root.iterfind(f"{{{ATOM}}}entry")]
    return ParsedFeed(title=title, items=first_unique(items, max_items))


def _atom_entry(entry: Any, url: str) -> ParsedItem | None:
    slots, nested = _slots(entry, _ATOM_SLOTS, _ATOM_ENTRY_DECLINE)
    title = _pick_title(entry, slots, nested, rss=False)
    guid_text = _text(_one(slots, _GUID))
    link = ""
    for link_el in slots.get(_LINK, ()):
        rel = link_el.get("rel", "alternate")
        kind = link_el.get("type", "application/atom+xml" if rel == "self" else "text/html")
        if rel == "alternate" and _TYPE_ALIASES.get(kind, kind) in _HTML_TYPES:
            if link_el.get("href") is None:
                raise _Decline
            link = link_el.get("href")
    if link:
        link = clean_url(link, url)
    else:
        link = clean_url(guid_text, url)
    summary = _pick_summary(entry, slots, nested, f"{{{ATOM}}}content")
    published = _date(_one(slots, _PUBLISHED)) or _date(_one(slots, _UPDATED))
    return _item(clean_guid(guid_text), link, title, summary, published)


class _Cleaner(Protocol):
    """``clean_title`` or ``clean_summary``."""

    def __call__(self, text: str | None, *, is_html: bool) -> str: ...


def _atom_text(element: Any, clean: _Cleaner, default_html: bool = False) -> str:
    if element is None:
        return ""
    kind = element.get("type", "text")
    kind = _TYPE_ALIASES.get(kind, kind)
    if kind not in ("text/plain", "text/html") or len(element):
        raise _Decline
    return clean(_text(element), is_html=kind == "text/html" or default_html)


# --- RSS 1.0 (RDF) ------------------------------------------------------------------------


def _rdf(root: Any, url: str, max_items: int) -> ParsedFeed:
    channel = _only(root, f"{{{RSS1}}}channel")
    if channel is None:
        raise _Decline
    title = _rss_title(_only(channel, f"{{{RSS1}}}title"))
    items = [_rdf_item(el, url) for el in root.iterfind(f"{{{RSS1}}}item")]
    return ParsedFeed(title=title, items=first_unique(items, max_items))


def _rdf_item(item: Any, url: str) -> ParsedItem | None:
    slots, nested = _slots(item, _RDF_SLOTS, _RSS_ITEM_DECLINE, refused_prefix=f"{{{ATOM}")
    title = _pick_title(item, slots, nested, rss=True)
    link_el = _one(slots, _LINK)
    if link_el is not None and (not _text(link_el).strip() or len(link_el)):
        raise _Decline
    link = clean_url(_text(link_el), url) if link_el is not None else ""
    summary = _pick_summary(item, slots, nested, f"{{{CONTENT}}}encoded")
    published = _date(_one(slots, _DCDATE))
    return _item(clean_guid(item.get(f"{{{RDF}}}about")), link, title, summary, published)


# --- shared -------------------------------------------------------------------------------


def _slots(entry: Any, slot_of: Any, refused: frozenset[str],
           refused_prefix: str = "") -> tuple[dict[int, list[Any]], bool]:
    """The entry's children by slot, in document order, in one pass; and whether any child
    has children of its own (then title and summary candidates are searched deeper)."""
    slots: dict[int, list[Any]] = {}
    nested = False
    for child in entry:
        tag = child.tag
        if not isinstance(tag, str) or tag in refused or (
                refused_prefix and tag.startswith(refused_prefix)):
            raise _Decline
        if len(child):
            nested = True
        slot = slot_of.get(tag)
        if slot is not None:
            if slot in slots:
                slots[slot].append(child)
            else:
                slots[slot] = [child]
    return slots, nested


def _one(slots: dict[int, list[Any]], slot: int) -> Any:
    """The single child in ``slot``, None when there is none; several: decline."""
    found = slots.get(slot)
    if not found:
        return None
    if len(found) > 1:
        raise _Decline
    return found[0]


def _only(parent: Any, tag: str) -> Any:
    found = parent.findall(tag)
    if len(found) > 1:
        raise _Decline
    return found[0] if found else None


def _text(element: Any) -> str:
    if element is None:
        return ""
    text: str | None = element.text
    if not text:
        return ""
    if not text.isascii() and _C1.search(text):
        raise _Decline  # feedparser repairs windows-1252 bytes mislabelled as Unicode
    return text


def _html_like(text: str) -> bool:
    # feedparser's test needs a closing tag or an entity reference: no "<" and no "&", no HTML
    return ("<" in text or "&" in text) and bool(_looks_like_html(text))


def _pick_title(entry: Any, slots: dict[int, list[Any]], nested: bool, *, rss: bool) -> str:
    """The entry's title as feedparser picks it: the shallowest title-like element."""
    if nested:
        return _title(entry, rss=rss)
    found = slots.get(_TITLE)
    if not found:
        return ""
    if len(found) == 1:
        plain = _plain_text(found[0], MAX_TITLE)
        if plain is not None:
            return plain
    value = _element_text(found[0], clean_title, rss=rss)
    for element in found[1:]:
        if _element_text(element, clean_title, rss=rss) != value:
            raise _Decline  # feedparser's pick depends on document order
    return value


def _title(entry: Any, *, rss: bool) -> str:
    found = list(entry.iter(*_TITLE_TAGS))
    direct = [el for el in found if el.getparent() is entry]
    values = {_element_text(el, clean_title, rss=rss) for el in (direct or found)}
    if len(values) > 1:
        raise _Decline
    return values.pop() if values else ""


def _pick_summary(entry: Any, slots: dict[int, list[Any]], nested: bool,
                  content_tag: str) -> str:
    """The first summary-like element; with several that disagree, decline."""
    candidates = entry.iter(*_SUMMARY_TAGS) if nested else slots.get(_SUMMARY, ())
    value = ""
    for element in candidates:
        text = _summary_text(element)
        if text and text != value:
            if value:
                raise _Decline
            value = text
    if value:
        return value
    content = entry.find(content_tag) if nested else _first(slots, _CONTENT)
    return _summary_text(content) if content is not None else ""


def _first(slots: dict[int, list[Any]], slot: int) -> Any:
    found = slots.get(slot)
    return found[0] if found else None


def _summary_text(element: Any) -> str:
    # As the feedparser path: HTML when the type says so or when there is a "<" in it;
    # Atom text constructs default to text, everything else to HTML.
    plain = _plain_text(element, MAX_SUMMARY)
    if plain is not None:
        return plain
    atom = element.tag.startswith(f"{{{ATOM}}}")
    kind = _kind(element, "text/plain" if atom else "text/html")
    text = _text(element)
    return clean_summary(text, is_html="html" in kind or "<" in text)


def _plain_text(element: Any, limit: int) -> str | None:
    """The element's text when it is plain (most titles and summaries): no type given, no
    child, ASCII, no markup, no entity, one clean line of at most ``limit`` characters.
    The cleaning then returns it unchanged, whether read as text or as HTML. None for any
    other: it is cleaned as its type says."""
    text: str | None = element.text
    if (text and text.isascii() and "<" not in text and "&" not in text
            and len(text) <= limit and not len(element) and element.get("type") is None
            and is_plain_line(text)):
        return text
    return None


def _kind(element: Any, default: str) -> str:
    if len(element):
        raise _Decline  # inline XHTML: leave it to feedparser
    kind: str | None = element.get("type")
    if kind is None:
        return default
    kind = _TYPE_ALIASES.get(kind, kind)
    if "xhtml" in kind:
        raise _Decline
    return kind


def _element_text(element: Any, clean: _Cleaner, *, rss: bool) -> str:
    text = _text(element)
    kind = _kind(element, "")
    if kind:
        is_html = "html" in kind
    else:
        is_html = rss and _html_like(text)
    return clean(text, is_html=is_html)


def _date(element: Any) -> datetime | None:
    text = _text(element).strip()
    if not text:
        return None
    value = _common_date(text)
    if value is None:
        parsed = _feedparser_date(text)
        if not parsed:
            return None
        try:
            value = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
        except (OverflowError, ValueError, TypeError, OSError):
            return None
    return sane_datetime(value)


def _common_date(text: str) -> datetime | None:
    """An RFC 822 or W3C-DTF date in UTC, read as feedparser reads it; None for other forms.

    feedparser tries W3C-DTF first, then RFC 822; neither reads the other's common form.
    The seconds' fraction is dropped, the zone offset applied. Anything out of range
    (31 February, 24:00, a far year) is left to feedparser, which tries its other parsers.
    """
    try:
        match = _RFC822.fullmatch(text)
        if match is not None:
            day, month, year, hour, minute, second, name, zone_h, zone_m = match.groups()
            zone = _ZONES[name] if name else f"{zone_h}:{zone_m}"
            value = datetime.fromisoformat(
                f"{year}-{_MONTHS[month]}-{day:0>2}T{hour}:{minute}:{second}{zone}")
            shifted = zone != "+00:00"
        else:
            match = _W3CDTF.fullmatch(text)
            if match is None:
                return None
            shifted = match[1] is not None
            value = datetime.fromisoformat(text)
            if value.microsecond:
                value = value.replace(microsecond=0)
        if shifted:
            value = value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return value if 1900 <= value.year <= 2200 else None


def _item(guid: str, link: str, title: str, summary: str,
          published: datetime | None) -> ParsedItem | None:
    if ("&" in guid and _ENTITY_LEFT.search(guid)) or ("&" in link and _ENTITY_LEFT.search(link)):
        raise _Decline
    guid = guid or link
    if not (title or link or summary):
        return None
    return ParsedItem(guid=guid or hash_guid(title, summary), url=link, title=title,
                      summary=summary, published=published)
