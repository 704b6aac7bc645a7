"""parse_feed on small sample feeds written for these tests (tests/data/feeds/)."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.parse import parse_feed
from monitor.parse.feed import MAX_ITEMS

DATA = Path(__file__).parent / "data" / "feeds"
FEED_URL = "https://news.example.org/feeds/main.xml"


@pytest.fixture(params=[True, False], ids=["fast-path", "feedparser"])
def parse(request):
    """parse_feed with the lxml fast path on (the default) and off: both must pass."""
    return functools.partial(parse_feed, fast_path=request.param)


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def by_guid(feed):
    return {item.guid: item for item in feed.items}


def rss(items: str, *, channel_title: str = "Sample") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{channel_title}</title>{items}</channel></rss>").encode()


# --- RSS 2.0 ------------------------------------------------------------------------------


def test_rss2_title_and_items_in_feed_order(parse):
    feed = parse(load("rss2.xml"), FEED_URL)
    assert feed.title == "Example World Desk & Friends"
    assert [item.title for item in feed.items] == [
        "Ministry receives envoy\u2019s credentials in Kabul",
        "Trade talks resume after a long pause",
        "An item with neither guid nor link",
        "A link that must not survive",
    ]


def test_rss2_guid_url_and_plain_text_summary(parse):
    item = by_guid(parse(load("rss2.xml"), FEED_URL))["example-world-1001"]
    # relative link resolved against the feed URL
    assert item.url == "https://news.example.org/world/2025/07/envoy-credentials"
    # HTML stripped, script content dropped, whitespace collapsed
    assert item.summary == (
        "The foreign ministry said on Thursday that it had received the credentials.")


def test_rss2_published_is_converted_to_aware_utc(parse):
    item = by_guid(parse(load("rss2.xml"), FEED_URL))["example-world-1001"]
    assert item.published == datetime(2025, 7, 3, 11, 30, tzinfo=UTC)
    assert item.published.utcoffset().total_seconds() == 0


def test_guid_falls_back_to_link_then_to_hash(parse):
    feed = parse(load("rss2.xml"), FEED_URL)
    items = {item.title: item for item in feed.items}
    talks = items["Trade talks resume after a long pause"]
    assert talks.guid == talks.url == "https://news.example.org/world/2025/07/trade-talks"
    bare = items["An item with neither guid nor link"]
    expected = hashlib.sha1(b"An item with neither guid nor link\nOnly words here.").hexdigest()
    assert bare.guid == "sha1:" + expected
    assert bare.url == ""
    assert bare.published is None


def test_javascript_link_is_dropped(parse):
    item = by_guid(parse(load("rss2.xml"), FEED_URL))["example-world-1004"]
    assert item.url == ""


def test_duplicate_guid_keeps_first_item(parse):
    feed = parse(load("rss2.xml"), FEED_URL)
    guids = [item.guid for item in feed.items]
    assert len(guids) == len(set(guids))
    assert by_guid(feed)["example-world-1001"].title.startswith("Ministry receives envoy\u2019s")


def test_hashed_guid_is_stable_across_parses(parse):
    body = rss("<item><title>Same words</title><description>Same body</description></item>")
    first = parse(body, FEED_URL).items[0].guid
    assert first == parse(body, FEED_URL).items[0].guid
    other = rss("<item><title>Other words</title><description>Same body</description></item>")
    assert parse(other, FEED_URL).items[0].guid != first


# --- Atom, RDF, JSON Feed -----------------------------------------------------------------


def test_atom_html_title_becomes_plain_text_and_link_is_resolved(parse):
    feed = parse(load("atom.xml"), FEED_URL)
    assert feed.title == "Regional Diplomacy Notes"
    first, second = feed.items
    assert first.guid == "urn:example:diplomacy:entry-1"
    assert first.title == "Embassy handover confirmed & celebrated"
    assert first.url == "https://news.example.org/feeds/notes/embassy-handover.html"
    assert first.summary == "Officials confirmed the handover of the building."
    # updated (no published): 08:15+02:00 -> 06:15 UTC
    assert first.published == datetime(2025, 7, 5, 6, 15, tzinfo=UTC)
    # a text (not html) title keeps its angle brackets as text
    assert second.title == "Plain text title with a <tag> in it"
    # published wins over updated; content used when there is no summary
    assert second.published == datetime(2025, 7, 1, tzinfo=UTC)
    assert second.summary == "Body text of the second note."


def test_rdf_feed(parse):
    feed = parse(load("rdf.xml"), FEED_URL)
    assert feed.title == "RDF Bulletin"
    (item,) = feed.items
    assert item.url == "https://rdf.example.com/b/1"
    assert item.title == "Council debates a seat at the assembly"
    assert item.published == datetime(2025, 6, 30, 17, 0, tzinfo=UTC)


def test_json_feed(parse):
    feed = parse(load("feed.json"), "https://json.example.org/feed.json",
                      "application/feed+json")
    assert feed.title == "JSON Wire"
    first, second = feed.items
    assert first.guid == "jw-1"
    assert first.url == "https://json.example.org/stories/1"
    assert first.summary == "The delegation arrived on Monday."
    assert first.published == datetime(2025, 7, 7, 9, 0, tzinfo=UTC)
    assert second.url == "https://other.example.com/x"
    assert second.summary == "Untitled note"


def test_invalid_json_feed_is_a_parse_error(parse):
    with pytest.raises(ParseError):
        parse(b'{"version": "https://jsonfeed.org/version/1", "items": [', FEED_URL,
                   "application/json")


# --- errors and leniency ------------------------------------------------------------------


def test_html_page_is_not_a_feed(parse):
    with pytest.raises(ParseError, match="not a feed"):
        parse(load("not-a-feed.html"), FEED_URL, "text/html; charset=utf-8")


@pytest.mark.parametrize("body", [b"", b"   \n\t"])
def test_empty_body_is_a_parse_error(parse, body):
    with pytest.raises(ParseError, match="empty"):
        parse(body, FEED_URL)


def test_truncated_feed_with_entries_is_accepted(parse):
    body = rss("<item><title>Kept one</title><link>https://e.example/1</link></item>"
               "<item><title>Kept two</title><link>https://e.example/2</link></item>"
               "<item><title>Cut off mid-")
    body = body[: body.index(b"Cut off mid-") + 12]
    feed = parse(body, FEED_URL)
    assert [item.title for item in feed.items][:2] == ["Kept one", "Kept two"]


def test_malformed_feed_without_entries_is_a_parse_error(parse):
    with pytest.raises(ParseError):
        parse(b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</ti', FEED_URL)


def test_valid_feed_with_no_items_is_an_empty_feed(parse):
    feed = parse(rss("", channel_title="Quiet desk"), FEED_URL, "application/rss+xml")
    assert feed.title == "Quiet desk"
    assert feed.items == ()


def test_charset_from_content_type_is_used(parse):
    body = ('<?xml version="1.0"?><rss version="2.0"><channel><title>c</title>'
            "<item><title>Caf\u00e9 diplomacy</title><link>https://e.example/c</link></item>"
            "</channel></rss>").encode("iso-8859-1")
    feed = parse(body, FEED_URL, "application/xml; charset=iso-8859-1")
    assert feed.items[0].title == "Caf\u00e9 diplomacy"


def test_items_are_capped_keeping_the_first(parse):
    items = "".join(f"<item><title>Story {i}</title><link>https://e.example/{i}</link></item>"
                    for i in range(MAX_ITEMS + 50))
    feed = parse(rss(items), FEED_URL)
    assert len(feed.items) == MAX_ITEMS
    assert feed.items[0].title == "Story 0"
    assert feed.items[-1].title == f"Story {MAX_ITEMS - 1}"


def test_only_parse_error_escapes_from_library_failures(monkeypatch):
    import monitor.parse.feed as feed_module

    def explode(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(feed_module.feedparser, "parse", explode)
    with pytest.raises(ParseError, match="KeyError"):
        parse_feed(load("rss2.xml"), FEED_URL, fast_path=False)


def test_item_count_shortcut_never_keeps_an_entry_past_the_cap():
    from monitor.parse.feed import _truncate_items

    # "item" in the text of few items: the count shortcut may not skip a needed cut
    few = rss("".join(f"<item><title>item item {i}</title></item>" for i in range(3)))
    assert _truncate_items(few, 3) == few
    cut = _truncate_items(few, 2)
    assert b"item item 1" in cut and b"item item 2" not in cut


# --- the fast path's own date reader agrees with feedparser's ------------------------------

DATE_FORMS = [
    "Tue, 03 Jun 2025 09:15:00 GMT", "03 Jun 2025 09:15:00 +0000", "Sat, 1 Oct 2022 23:59:59 UT",
    "Tue, 03 Jun 2025 09:15:00 +0530", "Tue, 03 Jun 2025 09:15:00 -0800",
    "Wed, 31 Dec 2025 23:30:00 -0100", "Tue, 03 Jun 2025 09:15:00 UTC",
    "Tue, 03 Jun 2025 09:15:00 Z", "Tue, 03 Jun 2025 09:15:00 EST",
    "Tue, 03 Jun 2025 09:15:00 EDT", "Tue, 03 Jun 2025 09:15:00 CST",
    "Tue, 03 Jun 2025 09:15:00 MDT", "Tue, 03 Jun 2025 09:15:00 PST",
    "Tue, 03 Jun 2025 09:15:00 PDT", "2025-06-03T09:15:00Z", "2025-06-03T09:15:00+02:00",
    "2025-06-03T09:15:00.123456-05:30", "2025-06-03T09:15:59.999999999Z",
    "2025-12-31T23:30:00-01:00", "1990-01-01T00:30:00+01:00",
    # forms left to feedparser: out of range, other spellings, no zone, odd zones
    "Tue, 31 Feb 2025 09:15:00 GMT", "Tue, 03 Jun 2025 24:00:00 GMT", "Tue, 03 Jun 25 09:15 GMT",
    "tue, 03 jun 2025 09:15:00 gmt", "Tue, 03 Jun 2025 09:15:00 CET",
    "Tue, 03 Jun 2025 09:15:00 +9999",
    "Tue, 03 Jun 2025 09:15:00 +05:30", "2025-02-30T09:15:00Z", "2025-06-03T09:15:00",
    "2025-06-03T09:15:00+0200", "2025-06-03 09:15:00", "2025-06-03", "2025-06-03T09:15:00+01:99",
    "Tue, 03 Jun \u0662\u0660\u0662\u0665 09:15:00 GMT",
]


@pytest.mark.parametrize("text", DATE_FORMS)
def test_fast_path_dates_are_feedparsers(text):
    import calendar

    from feedparser.datetimes import _parse_date

    from monitor.parse.fast import _common_date
    from monitor.parse.sanitize import sane_datetime

    parsed = _parse_date(text)
    expected = datetime.fromtimestamp(calendar.timegm(parsed), UTC) if parsed else None
    ours = _common_date(text)
    if ours is not None:  # read without feedparser: must be what feedparser reads
        assert ours == expected and ours.tzinfo is UTC
    # and through the whole fast path (dates outside 1990-2100 become None either way)
    feed = parse_feed(rss(f"<item><title>t</title><link>https://e.example/1</link>"
                          f"<pubDate>{text}</pubDate></item>"), FEED_URL)
    assert feed.items[0].published == (expected and sane_datetime(expected))


def test_common_rss_and_atom_dates_skip_feedparser():
    from monitor.parse.fast import _common_date

    for text in DATE_FORMS[:DATE_FORMS.index("Tue, 31 Feb 2025 09:15:00 GMT")]:
        assert _common_date(text) is not None, text


# --- the fast path's plain titles and summaries are feedparser's ---------------------------

PLAIN_OR_NOT = [
    "Envoys meet in Doha", "  Envoys meet", "Envoys meet ", "Envoys  meet", "Envoys\tmeet",
    "Envoys\nmeet", "Envoys &amp; ministers", "Envoys &lt;b&gt;meet&lt;/b&gt;",
    "<![CDATA[Envoys <b>meet</b>]]>", "A" * 500, "A" * 501, "B " * 1000, "B " * 1001,
    "Envoys meet in Doh\u00e1", "x",
]


@pytest.mark.parametrize("text", PLAIN_OR_NOT, ids=range(len(PLAIN_OR_NOT)))
@pytest.mark.parametrize("shape", ["rss", "rss typed html", "atom", "atom typed html"])
def test_fast_path_titles_and_summaries_are_feedparsers(text, shape):
    """Plain text skips the cleaning (monitor.parse.fast._plain_text): whatever the text,
    the fast path gives what the feedparser path gives."""
    typed = ' type="html"' if shape.endswith("typed html") else ""
    if shape.startswith("rss"):
        body = rss(f"<item><title{typed}>{text}</title><link>https://e.example/1</link>"
                   f"<description{typed}>{text}</description></item>")
    else:
        body = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/'
                f'Atom"><title>f</title><entry><id>urn:1</id><title{typed}>{text}</title>'
                f'<link href="https://e.example/1"/><summary{typed}>{text}</summary>'
                f"</entry></feed>").encode()
    fast = parse_feed(body, FEED_URL)
    slow = parse_feed(body, FEED_URL, fast_path=False)
    assert [(i.title, i.summary) for i in fast.items] == [
        (i.title, i.summary) for i in slow.items]


# --- the fast path's one-pass read of plain RSS items is feedparser's -----------------------

_MEDIA = 'xmlns:media="http://search.yahoo.com/mrss/"'
_DC = 'xmlns:dc="http://purl.org/dc/elements/1.1/"'
_CONTENT = 'xmlns:content="http://purl.org/rss/1.0/modules/content/"'
ITEM_SHAPES = {
    "plain": "<title>Envoys meet</title><link>https://e.example/1</link>"
             "<guid>https://e.example/1</guid><description>Talks resume.</description>"
             "<pubDate>Tue, 03 Jun 2025 09:15:00 GMT</pubDate>",
    "date first, others ignored": "<pubDate>Tue, 03 Jun 2025 09:15:00 +0200</pubDate>"
             "<category>Asia</category><author>desk@e.example</author><title>Envoys meet"
             "</title><comments>https://e.example/1#c</comments><link>https://e.example/1"
             "</link>",
    "guid as the link": "<title>Envoys meet</title><guid>https://e.example/2</guid>",
    "guid not a permalink": '<title>Envoys meet</title><guid isPermaLink="false">'
             "urn:e:2</guid><description>Talks resume.</description>",
    "relative link": "<title>Envoys meet</title><link>/news/3</link>",
    "no title": "<description>Talks resume in Doha.</description><link>https://e.example/4"
             "</link>",
    "empty description": "<title>Envoys meet</title><description></description>"
             "<link>https://e.example/5</link>",
    "html description": "<title>Envoys &amp; ministers</title><description>&lt;p&gt;Talks"
             " &lt;b&gt;resume&lt;/b&gt;&lt;/p&gt;</description><link>https://e.example/6</link>",
    "title twice, same": "<title>Envoys meet</title><title>Envoys meet</title>"
             "<link>https://e.example/7</link>",
    "title twice, not the same": "<title>Envoys meet</title><title>Envoys part</title>"
             "<link>https://e.example/8</link>",
    "dc:date": "<title>Envoys meet</title><link>https://e.example/9</link>"
             "<dc:date>2025-06-03T09:15:00Z</dc:date>",
    "pubDate and dc:date": "<title>Envoys meet</title><link>https://e.example/10</link>"
             "<pubDate>not a date</pubDate><dc:date>2025-06-03T09:15:00+02:00</dc:date>",
    "content only": "<title>Envoys meet</title><link>https://e.example/11</link>"
             "<description></description><content:encoded>&lt;p&gt;Talks resume.&lt;/p&gt;"
             "</content:encoded>",
    "nested media title": "<link>https://e.example/12</link><media:group><media:title>"
             "Envoys meet</media:title></media:group>",
    "blank link": "<title>Envoys meet</title><link> </link>",
    "link twice": "<title>Envoys meet</title><link>https://e.example/13</link>"
             "<link>https://e.example/14</link>",
}


@pytest.mark.parametrize("shape", ITEM_SHAPES)
def test_fast_path_rss_items_are_feedparsers(shape):
    """Whether an item is read in one pass, by its slots, or declined (feedparser then
    reads the feed), the items are those of the feedparser path."""
    from monitor.parse.fast import parse_fast

    body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" {_MEDIA} {_DC} '
            f"{_CONTENT}><channel><title>Sample</title><item>{ITEM_SHAPES[shape]}</item>"
            f"<item><title>Second</title><link>https://e.example/99</link></item>"
            f"</channel></rss>").encode()
    slow = parse_feed(body, FEED_URL, fast_path=False)
    fast = parse_fast(body, FEED_URL)
    declined = {"title twice, not the same", "blank link", "link twice"}
    assert (fast is None) == (shape in declined)
    if fast is not None:
        assert fast.items == slow.items
        assert len(fast.items) == 2
