"""Finding the feeds a site or article page advertises (`monitor sources discover URL`).

The page is fetched as a page source is (robots.txt obeyed, the same fetcher, size caps and
timeouts). Its ``<link rel="alternate">`` RSS, Atom and JSON Feed links are read, or, when
it advertises none, a few common feed paths of the site are tried. Each feed is fetched and
parsed with the daemon's own parser, so the item count shown is what a poll would see.

The URL the operator typed is theirs to choose; a feed link to *another* host is not, so it
is fetched ``public_only`` (it must resolve to public addresses unless the config sets
``allow_private_networks``), as a redirect to another host is.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from lxml import etree

from monitor.config import MonitorSettings
from monitor.errors import FetchError, ParseError
from monitor.fetch.http import HttpFetcher
from monitor.fetch.politeness import host_key
from monitor.fetch.robots import RobotsCache
from monitor.parse.feed import looks_like_html, parse_feed
from monitor.ports import Fetcher, RobotsPolicy
from monitor.urls import without_credentials

FEED_TYPES = {
    "application/rss+xml": "RSS",
    "application/atom+xml": "Atom",
    "application/rdf+xml": "RSS 1.0",
    "application/feed+json": "JSON Feed",
    "application/json": "JSON Feed",
    "application/x.atom+xml": "Atom",
    "application/x-atom+xml": "Atom",
    "text/xml": "XML",
    "application/xml": "XML",
}
COMMON_PATHS = ("/feed", "/rss", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml",
                "/feed.json")
MAX_LINKS = 20      # advertised feeds fetched at most


@dataclass(frozen=True)
class FeedLink:
    """A feed a page points to: its absolute URL, the link's title and kind."""

    url: str
    title: str
    kind: str


@dataclass(frozen=True)
class DiscoveredFeed:
    """A feed link checked by fetching and parsing it: ``items`` when it is readable,
    ``error`` when it is not."""

    url: str
    title: str
    kind: str
    items: int | None = None
    error: str | None = None
    advertised: bool = True


@dataclass(frozen=True)
class Discovery:
    url: str                                # the page, after redirects
    feeds: tuple[DiscoveredFeed, ...]       # readable feeds, in the page's order
    failed: tuple[DiscoveredFeed, ...]      # advertised feeds that could not be read
    guessed: bool                           # no link advertised: common paths were tried


def advertised_feeds(content: bytes, base_url: str) -> tuple[FeedLink, ...]:
    """PURE. The feed links of an HTML page: ``<link rel="alternate">`` with a feed type
    (or ``rel="feed"``), resolved against ``<base href>`` or ``base_url``; http(s) only,
    each URL once."""
    parser = etree.HTMLParser(no_network=True, huge_tree=False, remove_comments=True,
                              remove_pis=True)
    try:
        root = etree.fromstring(content, parser)
    except (etree.LxmlError, ValueError):
        return ()
    if root is None:
        return ()
    base = base_url
    for element in root.iter("base"):
        href = (element.get("href") or "").strip()
        if href:
            base = urljoin(base_url, href)
            break
    links: dict[str, FeedLink] = {}
    for element in root.iter("link"):
        rel = (element.get("rel") or "").lower().split()
        kind_type = (element.get("type") or "").split(";")[0].strip().lower()
        href = (element.get("href") or "").strip()
        if not href or not ("alternate" in rel or "feed" in rel):
            continue
        if kind_type not in FEED_TYPES and not ("feed" in rel and not kind_type):
            continue
        url = urljoin(base, href)
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            continue
        title = " ".join((element.get("title") or "").split())
        links.setdefault(url, FeedLink(url, title, FEED_TYPES.get(kind_type, "feed")))
    return tuple(links.values())


def _check(fetcher: Fetcher, link: FeedLink, page_url: str, advertised: bool
           ) -> DiscoveredFeed:
    """Fetch and parse one feed link; a failure is data, as in a poll."""
    try:
        if host_key(link.url) == host_key(page_url):
            fetched = fetcher.fetch(link.url)
        else:
            fetched = fetcher.fetch(link.url, public_only=True, purpose="feed link to")
        parsed = parse_feed(fetched.content or b"", link.url,
                            fetched.headers.get("content-type"))
    except (FetchError, ParseError) as exc:
        return DiscoveredFeed(link.url, link.title, link.kind, error=str(exc),
                              advertised=advertised)
    return DiscoveredFeed(link.url, link.title or parsed.title, link.kind,
                          items=len(parsed.items), advertised=advertised)


def discover(url: str, fetcher: Fetcher, robots: RobotsPolicy) -> Discovery:
    """The feeds ``url`` advertises, each fetched and counted. Raises FetchError when the
    page itself cannot be fetched (or robots.txt disallows it)."""
    if not robots.allowed(url):
        raise FetchError(f"{without_credentials(url)}: disallowed by robots.txt")
    fetched = fetcher.fetch(url)
    content = fetched.content or b""
    content_type = fetched.headers.get("content-type")
    if not looks_like_html(content, content_type):
        try:        # the URL is a feed already
            parsed = parse_feed(content, url, content_type)
        except ParseError:
            pass
        else:
            feed = DiscoveredFeed(url, parsed.title, "feed", items=len(parsed.items))
            return Discovery(fetched.url, (feed,), (), guessed=False)
    links = advertised_feeds(content, fetched.url)[:MAX_LINKS]
    guessed = not links
    if guessed:
        links = tuple(FeedLink(urljoin(fetched.url, path), "", "feed")
                      for path in COMMON_PATHS)
    checked = [_check(fetcher, link, url, advertised=not guessed) for link in links]
    feeds = tuple(c for c in checked if c.error is None)
    failed = tuple(c for c in checked if c.error is not None and c.advertised)
    return Discovery(fetched.url, feeds, failed, guessed)


def discover_url(url: str, settings: MonitorSettings) -> Discovery:
    """discover() with the daemon's own fetcher and robots.txt rules for ``settings``."""
    with HttpFetcher(settings) as fetcher:
        return discover(url, fetcher, RobotsCache(fetcher, settings.user_agent))


def format_discovery(discovery: Discovery) -> str:
    """PURE. The numbered list `monitor sources discover` prints."""
    page = without_credentials(discovery.url)
    if not discovery.feeds:
        lines = [f"no feed found at {page}"]
        if discovery.guessed:
            lines.append("(it advertises no feed with <link rel=\"alternate\">, and none of "
                         f"{', '.join(COMMON_PATHS)} answered with a feed)")
    else:
        how = "found at common paths of" if discovery.guessed else "advertised by"
        lines = [f"feeds {how} {page}:"]
        for number, feed in enumerate(discovery.feeds, start=1):
            items = f"{feed.items} item{'s' if feed.items != 1 else ''}"
            lines.append(f"  {number}. {feed.title or '(untitled)'} [{feed.kind}, {items}]")
            lines.append(f"     {without_credentials(feed.url)}")
    for feed in discovery.failed:
        lines.append(f"  unreadable: {without_credentials(feed.url)}: {feed.error}")
    return "\n".join(lines)
