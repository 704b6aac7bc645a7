"""`monitor sources discover URL`, on a real loopback server: advertised feeds, the common
paths fallback, robots.txt, address checks for links to other hosts, and --add. Also the
message a feed source gets when its URL is an HTML page."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app import build_app
from monitor.config import MonitorSettings, load_config_data
from monitor.errors import FetchError
from monitor.fetch import HttpFetcher, RobotsCache
from monitor.sources.discover import advertised_feeds, discover
from tests.fakes import FakeFetcher
from tests.loopback import LoopbackHTTPServer, Response


def rss(*titles: str) -> bytes:
    items = "".join(f"<item><title>{t}</title><link>https://river.example/{i}</link>"
                    f"<guid>r{i}</guid></item>" for i, t in enumerate(titles))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>River desk</title>'
            f"{items}</channel></rss>").encode()


ATOM = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Hill notes'
        b"</title><entry><id>h1</id><title>Bridge reopens after repairs</title>"
        b'<link href="https://hill.example/1"/></entry></feed>')
JSON_FEED = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Dock",
                        "items": [{"id": "d1", "title": "Ferry timetable changes",
                                   "url": "https://dock.example/1"},
                                  {"id": "d2", "title": "Harbour lights restored",
                                   "url": "https://dock.example/2"}]}).encode()


def page(*links: str) -> bytes:
    return ("<!doctype html><html><head><title>River</title>" + "".join(links)
            + "</head><body><p>Local reports</p></body></html>").encode()


@pytest.fixture()
def server():
    with LoopbackHTTPServer() as http:
        yield http


def settings(private: bool) -> MonitorSettings:
    return MonitorSettings(allow_private_networks=private, min_host_interval="0s")


class EveryPath:
    """robots.txt that allows everything."""

    def allowed(self, url: str, *, public_only: bool = False) -> bool:
        return True

    def crawl_delay(self, url: str) -> float | None:
        return None


def test_a_link_to_another_host_is_fetched_public_only_and_named_so_in_its_refusal() -> None:
    """Through the fetcher port, with no server: the page's own host is the operator's
    choice; a feed link to another host must resolve to public addresses, and a refusal
    says it was a feed link."""
    fetcher = FakeFetcher()
    own, other = "https://river.example/rss.xml", "https://elsewhere.example/atom.xml"
    fetcher.body("https://river.example/", page(
        f'<link rel="alternate" type="application/rss+xml" href="{own}">',
        f'<link rel="alternate" type="application/atom+xml" href="{other}">'),
        {"Content-Type": "text/html"})
    fetcher.body(own, rss("Ferry resumes"), {"Content-Type": "application/rss+xml"})
    fetcher.raises(other, FetchError("feed link to private address 10.0.0.7 refused"))
    found = discover("https://river.example/", fetcher, EveryPath())
    assert [f.url for f in found.feeds] == [own]
    assert [f.error for f in found.failed] == ["feed link to private address 10.0.0.7 refused"]
    (to_own,), (to_other,) = fetcher.calls_to(own), fetcher.calls_to(other)
    assert not to_own.public_only
    assert (to_other.public_only, to_other.purpose) == (True, "feed link to")


def run_discover(url: str, private: bool = False):
    resolve = lambda host, port: ["127.0.0.1"]  # noqa: E731 - every name is loopback here
    with HttpFetcher(settings(private), resolve=resolve) as fetcher:
        return discover(url, fetcher, RobotsCache(fetcher, "news-monitor/0.1"))


def test_advertised_links_are_read_with_base_and_types() -> None:
    links = advertised_feeds(page(
        '<base href="https://river.example/news/">',
        '<link rel="alternate" type="application/rss+xml" title="All news" href="rss.xml">',
        '<link rel="Alternate" type="application/atom+xml" href="/atom">',
        '<link rel="alternate" type="application/feed+json" href="feed.json">',
        '<link rel="alternate" type="text/html" href="/en/">',              # not a feed
        '<link rel="stylesheet" type="application/rss+xml" href="/x.css">',  # not alternate
        '<link rel="alternate" type="application/rss+xml" href="javascript:x">',
        '<link rel="alternate" type="application/rss+xml" href="rss.xml">'), "https://a.b/")
    assert [(link.url, link.title, link.kind) for link in links] == [
        ("https://river.example/news/rss.xml", "All news", "RSS"),
        ("https://river.example/atom", "", "Atom"),
        ("https://river.example/news/feed.json", "", "JSON Feed")]


def test_discover_lists_advertised_feeds_with_item_counts(server) -> None:
    server.route("/article/7", Response(body=page(
        '<link rel="alternate" type="application/rss+xml" title="River" href="/rss.xml">',
        '<link rel="alternate" type="application/atom+xml" href="/atom.xml">',
        '<link rel="alternate" type="application/feed+json" href="/feed.json">',
        '<link rel="alternate" type="application/rss+xml" href="/missing.xml">'),
        headers={"Content-Type": "text/html"}))
    server.route("/rss.xml", Response(body=rss("Flood warning lifted", "Market day moved")))
    server.route("/atom.xml", Response(body=ATOM))
    server.route("/feed.json", Response(body=JSON_FEED,
                                        headers={"Content-Type": "application/feed+json"}))
    found = run_discover(server.url("/article/7"))
    assert [(f.title, f.kind, f.items) for f in found.feeds] == [
        ("River", "RSS", 2), ("Hill notes", "Atom", 1), ("Dock", "JSON Feed", 2)]
    assert [(f.url, f.error) for f in found.failed] == [
        (server.url("/missing.xml"), "HTTP 404 Not Found")]
    assert not found.guessed
    assert server.requests_to("/robots.txt")        # robots.txt asked before the page


def test_common_paths_are_tried_when_nothing_is_advertised(server) -> None:
    server.route("/", Response(body=page(), headers={"Content-Type": "text/html"}))
    server.route("/feed.xml", Response(body=rss("School term dates set")))
    found = run_discover(server.url("/"))
    assert found.guessed
    assert [(f.url, f.items) for f in found.feeds] == [(server.url("/feed.xml"), 1)]
    assert found.failed == ()       # the paths that 404 are guesses, not reported


def test_a_feed_url_is_its_own_discovery(server) -> None:
    server.route("/rss.xml", Response(body=rss("One", "Two", "Three")))
    found = run_discover(server.url("/rss.xml"))
    assert [(f.url, f.items) for f in found.feeds] == [(server.url("/rss.xml"), 3)]


def test_robots_txt_disallowing_the_page_stops_discovery(server) -> None:
    server.route("/robots.txt", Response(body=b"User-agent: *\nDisallow: /private/\n"))
    server.route("/private/page", Response(body=page()))
    with pytest.raises(FetchError, match="robots.txt"):
        run_discover(server.url("/private/page"))
    assert not server.requests_to("/private/page")


def test_a_link_to_another_host_must_be_public(server) -> None:
    port = server.url("/").split(":")[2].split("/")[0]
    other = f"http://localhost:{port}/rss.xml"     # the same server, by another name
    server.route("/", Response(body=page(
        f'<link rel="alternate" type="application/rss+xml" href="{other}">',
        '<link rel="alternate" type="application/rss+xml" href="/rss.xml">')))
    server.route("/rss.xml", Response(body=rss("Same-host feed item")))
    found = run_discover(server.url("/"), private=False)
    # The same host as the URL given is the operator's choice; the other host is not.
    assert [f.url for f in found.feeds] == [server.url("/rss.xml")]
    assert [(f.url, f.error) for f in found.failed] == [
        (other, "feed link to private address 127.0.0.1 refused")]
    assert len(server.requests_to("/rss.xml")) == 1      # the refused one never connected
    allowed = run_discover(server.url("/"), private=True)
    assert [f.url for f in allowed.feeds] == [other, server.url("/rss.xml")]


def test_cli_discover_and_add(tmp_path: Path, server) -> None:
    server.route("/", Response(body=page(
        '<link rel="alternate" type="application/rss+xml" title="River &quot;desk&quot;" '
        'href="/rss.xml">', '<link rel="alternate" type="application/atom+xml" '
        'href="/atom.xml">'), headers={"Content-Type": "text/html; charset=utf-8"}))
    server.route("/rss.xml", Response(body=rss("Flood warning lifted")))
    server.route("/atom.xml", Response(body=ATOM))
    config = tmp_path / "monitor.toml"
    original = (f'# mine\n[monitor]\ndatabase = "{tmp_path / "m.db"}"\n'
                'allow_private_networks = true\nmin_host_interval = "0s"\n\n'
                '[[topics]]\nname = "t"\nevent = "recognition"\n')
    config.write_text(original)

    def monitor(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "monitor", "sources", "discover",
                               server.url("/"), *args, "-c", str(config)],
                              capture_output=True, text=True, timeout=120)

    listed = monitor()
    assert listed.returncode == 0, listed.stderr
    assert '1. River "desk" [RSS, 1 item]' in listed.stdout
    assert "2. Hill notes [Atom, 1 item]" in listed.stdout
    ambiguous = monitor("--add")
    assert ambiguous.returncode == 2 and "--add N" in ambiguous.stderr
    assert config.read_text() == original
    added = monitor("--add", "2")
    assert added.returncode == 0, added.stderr
    assert config.read_text().startswith(original)
    assert tomllib.loads(config.read_text())["sources"] == [
        {"name": "Hill notes", "type": "feed", "url": server.url("/atom.xml")}]
    assert (tmp_path / "monitor.toml.bak").read_text() == original
    again = monitor("--add", "2")
    assert again.returncode == 0 and "already source 'Hill notes'" in again.stderr


def test_an_html_page_polled_as_a_feed_suggests_discover(tmp_path: Path, server) -> None:
    server.route("/news", Response(body=page(
        '<link rel="alternate" type="application/rss+xml" href="/rss.xml">'),
        headers={"Content-Type": "text/html; charset=utf-8"}))
    config = load_config_data({
        "monitor": {"database": str(tmp_path / "m.db"), "min_host_interval": "0s"},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": "River", "type": "feed", "url": server.url("/news")}]})
    app = build_app(config, clock=lambda: datetime.now(UTC))
    try:
        outcome = app.pipeline.poll(config.sources[0])
    finally:
        app.close()
    assert outcome.status == "error"
    assert "HTML page, not a feed" in (outcome.error or "")
    assert f"monitor sources discover {server.url('/news')}" in (outcome.error or "")
