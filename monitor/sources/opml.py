"""OPML 1.0/2.0 subscription lists <-> feed records. PURE: bytes in, records out.

An OPML file comes from elsewhere (another reader's export, a download), so it is read as
untrusted XML: no DTD is loaded, no entity is resolved, nothing is fetched, and a document
that declares a DOCTYPE is refused outright (OPML never needs one, and internal entities
are how billion-laughs and quadratic-blowup files work).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from lxml import etree

from monitor.errors import ParseError
from monitor.text import one_line as text_line

MAX_OPML_BYTES = 10 * 1024 * 1024
MAX_OUTLINES = 20_000
MAX_DEPTH = 50
_HTTP_URL = re.compile(r"^https?://[^\s/?#]+", re.IGNORECASE)
MAX_TEXT = 2_000    # characters of an outline's title or category kept


@dataclass(frozen=True)
class OpmlFeed:
    """One subscription of an OPML file: an outline carrying ``xmlUrl``."""

    title: str                  # the outline's title, else its text ("" when neither)
    xml_url: str
    html_url: str | None = None
    categories: tuple[str, ...] = ()   # enclosing folders ("News/World") and `category`


@dataclass(frozen=True)
class OpmlSkip:
    """An outline that could not become a source, and why (reported to the user)."""

    title: str
    reason: str


@dataclass(frozen=True)
class OpmlDocument:
    title: str
    feeds: tuple[OpmlFeed, ...]
    skipped: tuple[OpmlSkip, ...]


def one_line(text: str | None) -> str:
    """A title or name for the config: the one-line rule of alerts (monitor.text), after
    dropping every other invisible character too (format characters, unassigned ones)."""
    if not text:
        return ""
    return text_line("".join(c for c in text if c.isprintable() or c.isspace()), MAX_TEXT)


def _attr(outline: etree._Element, name: str) -> str:
    """An attribute by case-insensitive name (OPML 1.0 files write xmlurl, XMLURL...)."""
    wanted = name.lower()
    for key, value in outline.attrib.items():
        if isinstance(key, str) and isinstance(value, str) and key.lower() == wanted:
            return value.strip()
    return ""


def parse_opml(content: bytes) -> OpmlDocument:
    """Read an OPML 1.0 or 2.0 document. Raises ParseError when it is not readable OPML.

    Every outline with an ``xmlUrl`` is a feed; an outline without one that holds other
    outlines is a folder, whose text becomes a category of the feeds inside it (nested
    folders read "Outer/Inner"). OPML 2.0 ``category`` attributes ("/Tech,/News/World")
    are categories too. An outline with neither a feed URL nor children, or with a feed
    URL that is not http(s), is skipped with a reason.
    """
    if not content.strip():
        raise ParseError("empty OPML file")
    if len(content) > MAX_OPML_BYTES:
        raise ParseError(f"OPML file larger than {MAX_OPML_BYTES} bytes")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"not valid OPML: {exc}"[:300]) from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise ParseError("OPML with a DOCTYPE declaration refused (OPML needs none; "
                         "entity declarations are not read)")
    if not isinstance(root.tag, str) or etree.QName(root).localname.lower() != "opml":
        raise ParseError("not an OPML document (the root element is not <opml>)")
    body = next((c for c in root if isinstance(c.tag, str)
                 and etree.QName(c).localname.lower() == "body"), None)
    if body is None:
        raise ParseError("not an OPML document (no <body>)")
    head_title = root.findtext("head/title") or ""
    feeds: list[OpmlFeed] = []
    skipped: list[OpmlSkip] = []
    for count, (outline, folders) in enumerate(_outlines(body, (), 0)):
        if count >= MAX_OUTLINES:
            raise ParseError(f"more than {MAX_OUTLINES} outlines in one OPML file")
        title = one_line(_attr(outline, "title") or _attr(outline, "text"))
        xml_url = _attr(outline, "xmlUrl")
        children = any(_is_outline(c) for c in outline)
        if not xml_url:
            if not children:
                skipped.append(OpmlSkip(title, "no xmlUrl"))
            continue
        if not _HTTP_URL.match(xml_url):
            skipped.append(OpmlSkip(title, f"xmlUrl {xml_url[:100]!r} is not an http(s) URL"))
            continue
        html_url = _attr(outline, "htmlUrl")
        categories = [*(["/".join(folders)] if folders else []),
                      *_categories(_attr(outline, "category"))]
        feeds.append(OpmlFeed(title=title, xml_url=xml_url,
                              html_url=html_url if _HTTP_URL.match(html_url) else None,
                              categories=tuple(dict.fromkeys(categories))))
    return OpmlDocument(one_line(head_title), tuple(feeds), tuple(skipped))


def _is_outline(element: etree._Element) -> bool:
    return isinstance(element.tag, str) and etree.QName(element).localname.lower() == "outline"


def _outlines(parent: etree._Element, folders: tuple[str, ...],
              depth: int) -> Iterator[tuple[etree._Element, tuple[str, ...]]]:
    """Every outline under ``parent``, depth first, with the folder names enclosing it."""
    if depth > MAX_DEPTH:
        raise ParseError(f"OPML outlines nested more than {MAX_DEPTH} levels")
    for child in parent:
        if not _is_outline(child):
            continue
        yield child, folders
        if not _attr(child, "xmlUrl"):
            name = one_line(_attr(child, "title") or _attr(child, "text")).replace("/", "-")
            yield from _outlines(child, (*folders, name) if name else folders, depth + 1)


def _categories(value: str) -> list[str]:
    """OPML 2.0: a comma-separated list of slash-delimited paths ("/Tech,/News/World")."""
    return [one_line(part).strip("/") for part in value.split(",") if part.strip(" /")]


# --- export ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedFeed:
    title: str
    xml_url: str


def render_opml(feeds: Iterable[ExportedFeed], title: str, now: datetime) -> bytes:
    """An OPML 2.0 document listing ``feeds``, UTF-8, escaped by lxml."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = _xml_text(title)
    etree.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    body = etree.SubElement(root, "body")
    for feed in feeds:
        name = _xml_text(feed.title)
        etree.SubElement(body, "outline", type="rss", text=name, title=name,
                         xmlUrl=_xml_text(feed.xml_url))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _xml_text(text: str) -> str:
    """Characters XML 1.0 can carry (lxml refuses control characters)."""
    return "".join(c for c in text if c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff"
                                                         and not "\ud800" <= c <= "\udfff"))
