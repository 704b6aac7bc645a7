"""Hostile and broken input through the parse stage: only ParsedFeed or ParseError comes out,
nothing expands, nothing is read from disk or network, everything stays small and safe."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import ParseError
from monitor.parse import parse_feed, parse_page
from monitor.parse.feed import MAX_ITEMS
from monitor.parse.sanitize import (
    MAX_DEPTH,
    MAX_GUID,
    MAX_SUMMARY,
    MAX_TITLE,
    MAX_URL,
    clean_guid,
    clean_summary,
    clean_title,
    clean_url,
)
from monitor.text import one_line
from monitor.types import ParsedFeed
from monitor.urls import strip_credentials

FEED_URL = "https://feeds.example.org/world.xml"
PAGE_URL = "https://press.example.org/list/"
# A file every Linux test machine has; its first line must never show up in parsed text.
SECRET_FILE = "/etc/passwd"


@pytest.fixture(autouse=True, params=["fast-path", "feedparser"])
def feed_path(request, monkeypatch):
    """Every hostile case goes through both feed paths: the lxml fast path and feedparser."""
    if request.param == "feedparser":
        monkeypatch.setattr("monitor.parse.feed.parse_fast", lambda *args, **kwargs: None)
    return request.param


def rss_items(items: bytes, *, prolog: bytes = b"") -> bytes:
    return (b'<?xml version="1.0" encoding="utf-8"?>\n' + prolog +
            b'<rss version="2.0"><channel><title>Hostile</title>' + items + b"</channel></rss>")


def item(title: bytes, link: bytes = b"https://e.example/1", extra: bytes = b"") -> bytes:
    return b"<item><title>" + title + b"</title><link>" + link + b"</link>" + extra + b"</item>"


def all_text(feed: ParsedFeed) -> str:
    return " ".join(f"{i.guid} {i.url} {i.title} {i.summary}" for i in feed.items) + feed.title


def outcome(call):
    """Run a parse; return the ParsedFeed, or None for a ParseError. Anything else fails."""
    try:
        result = call()
    except ParseError as exc:
        assert str(exc), "a ParseError carries a human message"
        return None
    assert isinstance(result, ParsedFeed)
    return result


# --- XML entity attacks -------------------------------------------------------------------

BILLION_LAUGHS = b"""<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""


@pytest.mark.parametrize("layout", ["multiline", "one-line"])
def test_billion_laughs_does_not_expand(layout):
    prolog = BILLION_LAUGHS if layout == "multiline" else BILLION_LAUGHS.replace(b"\n", b"")
    feed = outcome(lambda: parse_feed(rss_items(item(b"x &lol9; y"), prolog=prolog), FEED_URL))
    if feed is not None:
        assert "lollollol" not in all_text(feed)
        assert all(len(i.title) <= MAX_TITLE for i in feed.items)


def test_quadratic_blowup_does_not_expand():
    prolog = b'<!DOCTYPE rss [\n<!ENTITY a "' + b"A" * 60 + b'">\n]>\n'
    body = rss_items(item(b"&a;" * 100_000), prolog=prolog)
    feed = outcome(lambda: parse_feed(body, FEED_URL))
    if feed is not None:
        assert "A" * 61 not in all_text(feed)


def test_small_internal_entity_is_still_honoured():
    prolog = b'<!DOCTYPE rss [\n<!ENTITY desk "World desk">\n]>\n'
    feed = parse_feed(rss_items(item(b"&desk; report"), prolog=prolog), FEED_URL)
    assert feed.items[0].title == "World desk report"


@pytest.mark.skipif(not os.path.exists(SECRET_FILE), reason="needs /etc/passwd")
@pytest.mark.parametrize("declaration", [
    b'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
    b'<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n',
    b'<!DOCTYPE rss [\n<!ENTITY % p SYSTEM "file:///etc/passwd">\n%p;\n]>\n',
    b'<!DOCTYPE rss SYSTEM "file:///etc/passwd">\n',
])
def test_external_entities_do_not_read_files(declaration):
    secret = open(SECRET_FILE, encoding="utf-8", errors="replace").readline().strip()
    assert secret
    body = rss_items(item(b"before &xxe; after", extra=b"<description>&xxe;</description>"),
                     prolog=declaration)
    feed = outcome(lambda: parse_feed(body, FEED_URL))
    if feed is not None:
        assert secret not in all_text(feed)
        assert "root:" not in all_text(feed)


@pytest.mark.skipif(not os.path.exists(SECRET_FILE), reason="needs /etc/passwd")
def test_a_body_that_names_a_file_is_not_opened():
    # feedparser.parse(str_or_bytes) opens a path or URL it is given; we must never pass one.
    for body in (SECRET_FILE.encode(), b"file://" + SECRET_FILE.encode()):
        feed = outcome(lambda body=body: parse_feed(body, FEED_URL))
        assert feed is None or "root:" not in all_text(feed)


# --- encodings and bytes ------------------------------------------------------------------


def test_invalid_utf8_is_read_not_fatal():
    body = rss_items(item(b"Talks \xff\xfe resume \xc3"))
    feed = parse_feed(body, FEED_URL, "application/rss+xml; charset=utf-8")
    assert "Talks" in feed.items[0].title and "resume" in feed.items[0].title


def test_wrongly_declared_encoding():
    body = ('<?xml version="1.0" encoding="shift_jis"?><rss version="2.0"><channel>'
            "<title>t</title><item><title>Caf\u00e9 \u2014 d\u00e9j\u00e0 vu</title>"
            "<link>https://e.example/1</link></item></channel></rss>").encode()
    feed = outcome(lambda: parse_feed(body, FEED_URL, "text/xml; charset=iso-8859-1"))
    if feed is not None:
        assert feed.items[0].url == "https://e.example/1"


def test_nul_and_control_characters_are_removed():
    body = rss_items(item(b"Envoy\x00 arrives\x01\x02 today", b"https://e.example/\x00a",
                          b"<description>Line\x0bone\x00</description>"))
    feed = parse_feed(body, FEED_URL)
    (parsed,) = feed.items
    text = all_text(feed)
    assert not any(ord(c) < 32 for c in text)
    assert parsed.title == "Envoy arrives today"


def test_crlf_in_titles_becomes_spaces():
    body = rss_items(item(b"Subject: x\r\nBcc: victim@example.org\r\n\r\nbody"))
    title = parse_feed(body, FEED_URL).items[0].title
    assert "\r" not in title and "\n" not in title
    assert title == "Subject: x Bcc: victim@example.org body"


def test_one_megabyte_title_and_summary_are_capped():
    body = rss_items(item(b"T" * 1_000_000, extra=b"<description>" + b"S" * 1_000_000 +
                          b"</description>"))
    (parsed,) = parse_feed(body, FEED_URL).items
    assert 0 < len(parsed.title) <= MAX_TITLE
    assert 0 < len(parsed.summary) <= MAX_SUMMARY


def test_huge_url_is_dropped():
    body = rss_items(item(b"Long link", b"https://e.example/" + b"a" * 10_000,
                          b"<guid>long-1</guid>"))
    (parsed,) = parse_feed(body, FEED_URL).items
    assert parsed.url == ""
    assert parsed.guid == "long-1"


@pytest.mark.parametrize("date", [
    b"Mon, 01 Jan 1800 00:00:00 GMT",
    b"Thu, 01 Jan 1970 00:00:00 GMT",
    b"Fri, 01 Jan 2999 00:00:00 GMT",
    b"Sat, 01 Jan 0001 00:00:00 GMT",
    b"Fri, 31 Dec 9999 23:59:59 -1200",
    b"not a date at all",
    b"99999999999999999999",
])
def test_absurd_dates_become_none(date):
    (parsed,) = parse_feed(rss_items(item(b"Dated", extra=b"<pubDate>" + date + b"</pubDate>")),
                           FEED_URL).items
    assert parsed.published is None


def test_sane_date_survives_next_to_absurd_ones():
    body = rss_items(item(b"Ok", extra=b"<pubDate>Tue, 01 Jul 2025 10:00:00 +0300</pubDate>"))
    assert parse_feed(body, FEED_URL).items[0].published == datetime(2025, 7, 1, 7, tzinfo=UTC)


@pytest.mark.parametrize("link", [
    b"javascript:alert(1)", b"JaVaScRiPt:alert(1)", b"data:text/html,hi", b"vbscript:x",
    b"file:///etc/passwd", b"ftp://e.example/x", b"http://",
])
def test_only_http_links_survive(link):
    body = rss_items(item(b"Link test", link, b"<guid>g-1</guid>"))
    assert parse_feed(body, FEED_URL).items[0].url == ""


# --- size ---------------------------------------------------------------------------------


def test_hundred_thousand_items_are_capped_without_a_hang():
    items = b"".join(item(b"Story %d" % i, b"https://e.example/%d" % i) for i in range(100_000))
    feed = parse_feed(rss_items(items), FEED_URL)
    assert len(feed.items) == MAX_ITEMS
    assert feed.items[0].title == "Story 0"
    assert feed.items[-1].title == f"Story {MAX_ITEMS - 1}"


def test_deeply_nested_feed_content_is_refused_quickly():
    nested = b"<x>" * 100_000 + b"</x>" * 100_000
    body = rss_items(item(b"Deep", extra=b"<description>" + nested + b"</description>"))
    with pytest.raises(ParseError, match="nested too deeply"):
        parse_feed(body, FEED_URL)


def test_deeply_nested_html_page_is_refused():
    body = (b"<html><body>" + b"<div>" * 100_000 + b'<article><a href="/x">deep</a></article>'
            + b"</div>" * 100_000 + b"</body></html>")
    with pytest.raises(ParseError, match="nested too deeply"):
        parse_page(body, PAGE_URL, "article", "a")


def test_nested_items_below_the_depth_limit_still_parse():
    depth = MAX_DEPTH // 2 - 5
    body = (b"<html><body>" + b'<article><a href="/s">story</a>' * depth + b"</article>" * depth
            + b"</body></html>")
    page = parse_page(body, PAGE_URL, "article", "a")
    assert [i.url for i in page.items] == ["https://press.example.org/s"]


def test_hostile_page_text_is_sanitised():
    body = (b'<article><a href="/a">Headline\r\nBcc: x\x00<script>alert(1)</script></a>'
            b'<p>' + b"w " * 100_000 + b"</p></article>"
            b'<article><a href="javascript:alert(1)">bad</a></article>')
    page = parse_page(body, PAGE_URL, "article", "a", summary_selector="p")
    (parsed,) = page.items
    assert parsed.title.startswith("Headline Bcc: x")
    assert "alert" not in parsed.title  # script text is not prose
    assert "\x00" not in parsed.title and "\n" not in parsed.title
    assert len(parsed.summary) <= MAX_SUMMARY


# --- sanitize unit checks -----------------------------------------------------------------


def test_clean_helpers():
    assert clean_title("  A &amp; B <b>bold</b>\n\tend ", is_html=True) == "A & B bold end"
    assert clean_title("x" * 5_000).endswith("…") and len(clean_title("x" * 5_000)) == MAX_TITLE
    assert clean_summary("<p>one</p><p>two</p><style>p{}</style>") == "one two"
    assert clean_url("/a b", "https://e.example/dir/") == "https://e.example/a%20b"
    assert clean_url("https://e.example/" + "a" * MAX_URL) == ""
    assert clean_url("https://[::1/") == ""
    assert clean_url("HTTPS://E.example/x") == "HTTPS://E.example/x"


# The plain-text and plain-URL shortcuts in sanitize give what the regular expressions give.
_CONTROL_REF = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
TRICKY = st.lists(st.sampled_from([
    "a", "b", " ", "  ", "\t", "\n", "\r", "\x00", "\x01", "\x0b", "\x0c", "\x1c", "\x1f", "\x7f",
    "\x85", "\x9f", "\xa0", "\u2028", "\u3000", "\ud800", "\ufffe", "\u00e9", "<", "&", "[", "]",
    "/", "?", "#", "%", ":", "\u2100", "https://", "http://", "e.example", "@", "user:pw@",
]), max_size=14).map("".join)


def reference_text(text: str, limit: int) -> str:
    text = " ".join(_CONTROL_REF.sub("", text[: limit * 4]).split())
    return text[: limit - 1].rstrip() + "…" if len(text) > limit else text


def reference_guid(guid: str) -> str:
    guid = _CONTROL_REF.sub("", guid[: MAX_GUID * 2])
    return re.sub(r"\s+", " ", guid).strip()[:MAX_GUID]


def reference_url(link: str, base: str) -> str:
    link = _CONTROL_REF.sub("", link[: MAX_URL * 2])
    link = re.sub(r"[\r\n\t]", "", link).strip().replace(" ", "%20")
    if not link:
        return ""
    try:
        absolute = link if link.startswith(("http://", "https://")) else urljoin(base, link)
        absolute = strip_credentials(absolute)   # the shortcut must not skip this
        parts = urlsplit(absolute)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return "" if len(absolute) > MAX_URL or re.search(r"\s", absolute) else absolute


@settings(max_examples=300, deadline=None)
@given(st.one_of(TRICKY, st.sampled_from(["", "https://e.example/a", "x" * 600, "a  b",
                                         "https://user:pw@e.example/a"])),
       st.sampled_from([1, 5, 50, MAX_TITLE]))
def test_sanitize_shortcuts_match_the_regular_expressions(text, limit):
    assert one_line(text, limit) == reference_text(text, limit)
    assert clean_guid(text) == reference_guid(text)
    assert clean_url(text, FEED_URL) == reference_url(text, FEED_URL)
    assert clean_url("https://e.example/" + text, FEED_URL) == reference_url(
        "https://e.example/" + text, FEED_URL)


# --- fuzz ---------------------------------------------------------------------------------

XML_BITS = st.sampled_from([
    b"<?xml version='1.0'?>", b"<rss version='2.0'>", b"</rss>", b"<channel>", b"</channel>",
    b"<item>", b"</item>", b"<title>", b"</title>", b"<link>", b"</link>", b"<entry>",
    b"</entry>", b"<feed xmlns='http://www.w3.org/2005/Atom'>", b"</feed>", b"<![CDATA[",
    b"]]>", b"<!DOCTYPE rss [<!ENTITY e 'v'>]>", b"&e;", b"&amp;", b"&#0;", b"&#xD800;",
    b"<pubDate>", b"</pubDate>", b"Mon, 01 Jan 2024 00:00:00 GMT", b"javascript:x",
    b"https://e.example/", b"/rel", b"\x00", b"\xff\xfe", b"\r\n", b"<guid>", b"</guid>",
    b"<description>", b"</description>", b"&lt;b&gt;", b"<a href='x'>", b"{", b'"items":[',
])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2_000), st.lists(XML_BITS, max_size=60).map(b"".join)),
       st.sampled_from([None, "application/rss+xml", "text/html; charset=utf-8",
                        "application/json", "text/xml; charset=bogus"]),
       st.booleans())
def test_fuzz_parse_feed(content, content_type, fast_path):
    outcome(lambda: parse_feed(content, FEED_URL, content_type, fast_path=fast_path))


HTML_BITS = st.sampled_from([
    b"<html>", b"<body>", b"<article>", b"</article>", b"<a href='/x'>", b"<a href='y'>",
    b"<a href='javascript:1'>", b"</a>", b"<h2>", b"</h2>", b"<base href='http://b.example/'>",
    b"<time datetime='2025-07-01T00:00:00Z'>", b"<time datetime='-1'>", b"</time>", b"text",
    b"\x00", b"\xff", b"<!--", b"-->", b"<script>", b"</script>", b"&amp;", b"<div>",
])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2_000), st.lists(HTML_BITS, max_size=60).map(b"".join)),
       st.sampled_from(["article", "a", "div > a", "h2"]),
       st.sampled_from(["a", "a[href]", "h2"]))
def test_fuzz_parse_page(content, item_selector, link_selector):
    outcome(lambda: parse_page(content, PAGE_URL, item_selector, link_selector,
                               title_selector="h2", summary_selector="div"))
