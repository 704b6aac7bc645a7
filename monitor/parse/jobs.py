"""The parser registry: a source's kind -> the parser for its bodies.

A ParseJob carries what one parse needs, as plain data, so that it can be sent to a
worker process (monitor/workers.py keeps only the pool); ``run_parse_job`` runs it here.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.parse.feed import parse_feed
from monitor.parse.page import parse_page
from monitor.types import ParsedFeed, ParseJob


def _parse_page_job(job: ParseJob) -> ParsedFeed:
    return parse_page(job.content, job.url, job.item_selector, job.link_selector,
                      job.title_selector, job.summary_selector, job.content_type)


def _parse_feed_job(job: ParseJob) -> ParsedFeed:
    return parse_feed(job.content, job.url, job.content_type)


# kind -> parser; any other kind is read as a feed (as it always was).
PARSERS: dict[str, Callable[[ParseJob], ParsedFeed]] = {
    "feed": _parse_feed_job,
    "page": _parse_page_job,
}


def run_parse_job(job: ParseJob) -> ParsedFeed:
    """Parse one body (in this process) with the parser for its kind. Raises ParseError."""
    return PARSERS.get(job.kind, _parse_feed_job)(job)
