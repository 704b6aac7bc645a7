"""The parse stage: fetched bytes -> ParsedFeed (feeds with feedparser, pages with bs4)."""

from monitor.parse.feed import parse_feed
from monitor.parse.page import parse_page

__all__ = ["parse_feed", "parse_page"]
