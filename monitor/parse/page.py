"""HTML listing pages -> ParsedFeed, with beautifulsoup4 and the source's CSS selectors.

Each element matching ``item_selector`` is one item. Its link is the ``href`` of the first
element matching ``link_selector`` inside it (or of the item itself when it is an <a>),
resolved against the page URL and any <base href>; its title is the text of
``title_selector`` (else the link text); its summary the text of ``summary_selector``, or
without one the item's first paragraph that is not its title (a teaser, the alert's lead).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import bs4
from bs4 import BeautifulSoup
from soupsieve import SelectorSyntaxError

from monitor.errors import ParseError, SelectorError
from monitor.parse.sanitize import (
    check_shape,
    clean_summary,
    clean_title,
    clean_url,
    first_unique,
    parse_errors,
    parse_iso_datetime,
)
from monitor.types import ParsedFeed, ParsedItem

MAX_ITEMS = 1_000                # items kept per page, the first ones in document order
MAX_SECONDS = 10               # a page whose items take longer is refused (hostile nesting)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


def parse_page(content: bytes, url: str, item_selector: str, link_selector: str,
               title_selector: str | None = None,
               summary_selector: str | None = None,
               content_type: str | None = None) -> ParsedFeed:
    """Parse an HTML listing page fetched from ``url`` into items.

    Raises ParseError (and nothing else) when the body is empty or too large, a selector is
    invalid, ``item_selector`` matches nothing (SelectorError), or no matched item has a
    usable link.
    Items without a usable http(s) link are skipped; a link seen twice keeps its first item.
    """
    with parse_errors("page", content):
        check_shape(content, html=True)
        deadline = time.monotonic() + MAX_SECONDS
        soup = _soup(content, content_type)
        base = _base_url(soup, url)
        elements = _select(soup, item_selector, "item_selector")
        if not elements:
            raise SelectorError(f"item_selector {item_selector!r} matched nothing")
        items = first_unique(
            (_item(element, base, link_selector, title_selector, summary_selector)
             for element in _within(elements, deadline)), MAX_ITEMS)
        if not items:
            raise ParseError(f"link_selector {link_selector!r} found no usable link in "
                             f"{len(elements)} items matched by {item_selector!r}")
        title = clean_title(soup.title.get_text(" ") if soup.title else "")
        return ParsedFeed(title=title, items=items)


def _within(elements: list[Any], deadline: float) -> Iterator[Any]:
    """The elements, one by one, until ``deadline`` (time.monotonic()): then ParseError."""
    for element in elements:
        if time.monotonic() > deadline:
            raise ParseError(f"page too complex: items not extracted within {MAX_SECONDS} s")
        yield element


def _soup(content: bytes, content_type: str | None) -> BeautifulSoup:
    charset = _CHARSET.search(content_type or "")
    encoding = charset.group(1) if charset else None
    try:
        return BeautifulSoup(content, "lxml", from_encoding=encoding)
    except bs4.FeatureNotFound:
        return BeautifulSoup(content, "html.parser", from_encoding=encoding)


def _select(root: Any, selector: str, what: str) -> list[Any]:
    try:
        return list(root.select(selector))
    except SelectorSyntaxError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise ParseError(f"invalid {what} {selector!r}: {first_line}"[:300]) from exc


def _select_one(root: Any, selector: str, what: str) -> Any:
    try:
        return root.select_one(selector)
    except SelectorSyntaxError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise ParseError(f"invalid {what} {selector!r}: {first_line}"[:300]) from exc


def _base_url(soup: BeautifulSoup, page_url: str) -> str:
    base = soup.find("base", href=True)
    if base is None:
        return page_url
    return clean_url(str(base.get("href")), page_url) or page_url


def _item(element: Any, base: str, link_selector: str, title_selector: str | None,
          summary_selector: str | None) -> ParsedItem | None:
    link_el = element if element.name == "a" and element.get("href") else _select_one(
        element, link_selector, "link_selector")
    if link_el is not None and not link_el.get("href"):
        link_el = link_el.find("a", href=True)
    if link_el is None:
        # A headline wrapped in its link: <a href><h2>...</h2></a>.
        link_el = element.find_parent("a", href=True)
    if link_el is None:
        return None
    href = link_el.get("href")
    url = clean_url(href if isinstance(href, str) else "", base)
    if not url:
        return None
    title = ""
    if title_selector:
        title_el = _select_one(element, title_selector, "title_selector")
        title = clean_title(_text(title_el))
    if not title:
        title = clean_title(_text(link_el)) or clean_title(str(link_el.get("title") or ""))
    if summary_selector:
        summary = clean_summary(_text(_select_one(element, summary_selector, "summary_selector")),
                                is_html=False)
    else:
        summary = _first_paragraph(element, title)
    time_el = element.find("time", datetime=True)
    published = parse_iso_datetime(str(time_el.get("datetime"))) if time_el else None
    return ParsedItem(guid=url, url=url, title=title, summary=summary, published=published)


def _first_paragraph(element: Any, title: str) -> str:
    """The text of the item's first <p> that says more than its title; "" when none does."""
    for paragraph in element.find_all("p", limit=5):
        text = clean_summary(_text(paragraph), is_html=False)
        if text and text.casefold() != title.casefold():
            return text
    return ""


def _text(element: Any) -> str:
    return element.get_text(" ") if element is not None else ""
