"""parse_page: listing pages -> items with CSS selectors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.errors import ParseError, SelectorError
from monitor.parse import parse_page

PAGE_URL = "https://ministry.example.org/press/index.html"

LISTING = b"""<!DOCTYPE html>
<html><head><title>Press   releases</title></head>
<body>
  <nav><a href="/">Home</a></nav>
  <article>
    <h2>Ambassador presents credentials</h2>
    <a href="2025/07/credentials.html">Read more</a>
    <p class="lede">The ceremony took place &amp; was brief.</p>
    <time datetime="2025-07-03T09:00:00+04:30">3 July</time>
  </article>
  <article>
    <h2>Statement on the assembly seat</h2>
    <a href="/press/2025/07/seat.html#top">Read more</a>
    <p class="lede">A statement
       on conditions.</p>
  </article>
  <article><h2>No link at all</h2></article>
  <article><h2>Script link</h2><a href="javascript:void(0)">x</a></article>
  <article><h2>Same story again</h2><a href="2025/07/credentials.html">dup</a></article>
</body></html>
"""


def test_items_links_titles_and_summaries():
    page = parse_page(LISTING, PAGE_URL, "article", "a", title_selector="h2",
                      summary_selector="p.lede")
    assert page.title == "Press releases"
    assert [item.url for item in page.items] == [
        "https://ministry.example.org/press/2025/07/credentials.html",
        "https://ministry.example.org/press/2025/07/seat.html#top",
    ]
    first, second = page.items
    assert first.title == "Ambassador presents credentials"
    assert first.summary == "The ceremony took place & was brief."
    assert second.summary == "A statement on conditions."
    assert all(item.guid == item.url for item in page.items)


def test_time_datetime_inside_item_gives_published():
    page = parse_page(LISTING, PAGE_URL, "article", "a", title_selector="h2")
    assert page.items[0].published == datetime(2025, 7, 3, 4, 30, tzinfo=UTC)
    assert page.items[1].published is None


def test_title_defaults_to_link_text():
    page = parse_page(LISTING, PAGE_URL, "article", "a")
    assert page.items[0].title == "Read more"


def test_item_that_is_itself_a_link():
    body = b'<ul><li><a class="s" href="/a">First story</a></li>' \
           b'<li><a class="s" href="/b">Second story</a></li></ul>'
    page = parse_page(body, PAGE_URL, "a.s", "a")
    assert [(item.url, item.title) for item in page.items] == [
        ("https://ministry.example.org/a", "First story"),
        ("https://ministry.example.org/b", "Second story"),
    ]


def test_headline_wrapped_in_its_link():
    body = b'<a href="/w"><h3>Wrapped headline</h3></a>'
    page = parse_page(body, PAGE_URL, "h3", "a")
    assert page.items[0].url == "https://ministry.example.org/w"
    assert page.items[0].title == "Wrapped headline"


def test_base_href_is_honoured():
    body = (b'<html><head><base href="https://cdn.example.net/news/"></head><body>'
            b'<div class="i"><a href="story-1">One</a></div></body></html>')
    page = parse_page(body, PAGE_URL, "div.i", "a")
    assert page.items[0].url == "https://cdn.example.net/news/story-1"


def test_selector_that_matches_nothing():
    with pytest.raises(SelectorError) as info:
        parse_page(b"<html><body><div>nothing</div></body></html>", PAGE_URL, "article", "a")
    assert isinstance(info.value, ParseError) and info.value.kind == "selector"
    assert str(info.value) == "item_selector 'article' matched nothing"


def test_items_without_any_usable_link():
    with pytest.raises(ParseError, match="no usable link"):
        parse_page(b"<article><h2>a</h2></article>", PAGE_URL, "article", "a")


@pytest.mark.parametrize("selectors", [("article[", "a"), ("article", "a:::b")])
def test_invalid_selector_is_a_parse_error(selectors):
    item_selector, link_selector = selectors
    with pytest.raises(ParseError, match="invalid"):
        parse_page(LISTING, PAGE_URL, item_selector, link_selector)


def test_empty_page_is_a_parse_error():
    with pytest.raises(ParseError, match="empty"):
        parse_page(b"", PAGE_URL, "article", "a")


def test_charset_from_content_type():
    body = '<article><a href="/x">Caf\u00e9 talks</a></article>'.encode("windows-1252")
    page = parse_page(body, PAGE_URL, "article", "a",
                      content_type="text/html; charset=windows-1252")
    assert page.items[0].title == "Caf\u00e9 talks"


def test_without_a_summary_selector_the_first_paragraph_is_the_summary():
    """The item's teaser becomes its summary (and so the alert's lead); a paragraph that only
    repeats the headline is passed over."""
    listing = b"""<html><body>
      <div class="item"><a href="/a.html">Envoy arrives in the capital</a>
        <p>Envoy arrives in the capital</p>
        <p>The envoy was met at the airport by the deputy foreign minister.</p></div>
      <div class="item"><a href="/b.html">A headline alone</a></div>
    </body></html>"""
    first, second = parse_page(listing, PAGE_URL, "div.item", "a").items
    assert first.summary == "The envoy was met at the airport by the deputy foreign minister."
    assert second.summary == ""
