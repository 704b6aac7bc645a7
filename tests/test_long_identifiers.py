"""Guids and links are capped in UTF-8 bytes, not characters: PostgreSQL indexes a value of
at most about 2,700 bytes, and one longer failed the poll's whole commit (every poll,
while the item stayed in the feed), on a feed in a script of three bytes a character."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

import pytest

from monitor.app import build_app
from monitor.config import load_config_data
from monitor.parse.sanitize import MAX_GUID, MAX_URL, clean_guid, clean_url
from monitor.text import utf8_length
from monitor.urls import MAX_CANONICAL, canonical_url
from tests.loopback import LoopbackHTTPServer, Response

WORD = "新闻"   # three bytes a character in UTF-8


def scrambled(count: int, seed: int) -> str:
    """``count`` CJK characters that do not repeat in any pattern (PostgreSQL compresses
    a repetitive value before it indexes it)."""
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(count))


def test_a_guid_is_cut_at_its_byte_limit_and_at_a_whole_character() -> None:
    guid = "urn:" + WORD * MAX_GUID
    cleaned = clean_guid(guid)
    assert utf8_length(cleaned) <= MAX_GUID and utf8_length(cleaned) > MAX_GUID - 3
    assert guid.startswith(cleaned)
    assert clean_guid("urn:" + WORD * 100) == "urn:" + WORD * 100     # short: unchanged
    assert clean_guid("a" * (MAX_GUID + 10)) == "a" * MAX_GUID          # ASCII: as before


def test_a_link_longer_than_its_byte_limit_is_dropped() -> None:
    assert clean_url("https://news.example/" + WORD * 300) == "https://news.example/" + WORD * 300
    assert clean_url("https://news.example/" + WORD * (MAX_URL // 6 + 1)) == ""


def test_a_canonical_url_too_long_once_percent_encoded_is_not_kept() -> None:
    link = "https://news.example/" + WORD * 300      # 1,821 bytes: a link the parser keeps
    assert clean_url(link) == link
    assert canonical_url(link) == ""                  # 5,421 characters percent-encoded
    short = canonical_url("https://news.example/" + WORD * 10)
    assert short.startswith("https://news.example/%E6") and len(short) < MAX_CANONICAL


# The longest name a source may have (200 characters), of four bytes each, incompressible.
LONGEST_NAME = "".join(chr(random.Random(3).randrange(0x20000, 0x2A6DF)) for _ in range(200))


@pytest.mark.parametrize("name", ["wire", LONGEST_NAME], ids=["short name", "longest name"])
def test_a_feed_with_very_long_guids_and_links_is_polled_and_stored(
        tmp_path: Path, database: str, name: str) -> None:
    published = format_datetime(datetime.now(UTC) - timedelta(minutes=5), usegmt=True)
    items = [(f"urn:{scrambled(MAX_GUID, 1)}", "https://news.example/1"),   # a long guid
             ("g2", "https://news.example/" + scrambled(600, 2)),           # a long link
             ("g3", "https://news.example/3")]
    entries = "".join(
        f"<item><guid>{escape(guid)}</guid><title>Report {n}</title><link>{escape(link)}"
        f"</link><pubDate>{published}</pubDate></item>" for n, (guid, link) in enumerate(items))
    feed = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>wire'
            f"</title>{entries}</channel></rss>").encode()
    with LoopbackHTTPServer() as server:
        server.route("/feed", Response(body=feed,
                                       headers={"Content-Type": "application/rss+xml"}))
        app = build_app(load_config_data({
            "monitor": {"database": database, "workers": 1},
            "topics": [{"name": "t", "event": "recognition"}],
            "sources": [{"name": name, "url": server.url("/feed")}],
            "notifiers": [{"name": "desk", "type": "file", "path": str(tmp_path / "d.log")}]}))
        try:
            outcome = app.pipeline.poll(app.config.sources[0])
            assert outcome.status == "ok", outcome.error
            assert outcome.new == 3
            stored = app.store.stored_items(datetime.now(UTC) - timedelta(hours=1))
        finally:
            app.close()
    assert sorted(item.url for item in stored) == sorted(link for _, link in items)
