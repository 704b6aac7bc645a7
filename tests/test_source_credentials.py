"""Credentials in a source URL (``http://user:password@host/feed``) never leave the fetcher.

They are sent as Basic auth; links found in the source are resolved without them; and
wherever a URL is shown (messages, logs, status, check-config) they read ``***@``.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor.app import build_app
from monitor.config import load_config_data
from monitor.digest import digest_payload, render_html, render_text
from monitor.errors import ConfigError, FetchError
from monitor.fetch import check_url_allowed
from monitor.parse.feed import parse_feed
from monitor.parse.jobs import run_parse_job
from monitor.parse.page import parse_page
from monitor.parse.sanitize import clean_url
from monitor.types import Digest, ParsedFeed, ParseJob, Story, StorySource
from monitor.urls import strip_credentials, without_credentials
from tests.loopback import LoopbackHTTPServer, RecordedRequest, Response
from tests.test_end_to_end import monitor, smtp  # noqa: F401 - smtp: the SMTP inbox fixture

# --- the two ways of removing credentials -------------------------------------------------


@pytest.mark.parametrize("url, shown, stripped", [
    ("http://user:pass@host.example/feed", "http://***@host.example/feed",
     "http://host.example/feed"),
    ("http://token@host.example/feed", "http://***@host.example/feed",
     "http://host.example/feed"),
    ("http://user:@host.example/", "http://***@host.example/", "http://host.example/"),
    ("http://u:p@host.example", "http://***@host.example", "http://host.example"),
    # A raw "@", "/", "?" or "#" in the password: hidden whole, whatever the fetcher reads.
    ("http://user:p@ss@host.example/feed", "http://***@host.example/feed",
     "http://host.example/feed"),
    ("http://user:pa/ss@host.example/feed", "http://***@host.example/feed",
     "http://host.example/feed"),
    ("https://user:pa?ss@host.example/feed?page=2", "https://***@host.example/feed?page=2",
     "https://host.example/feed?page=2"),
    ("http://user:pa#ss@host.example/feed", "http://***@host.example/feed",
     "http://host.example/feed"),
    ("http://user:pa/ss@host.example:8080/a/b", "http://***@host.example:8080/a/b",
     "http://host.example:8080/a/b"),
    ("HTTPS://user:pw@Host.example/x", "HTTPS://***@Host.example/x", "HTTPS://Host.example/x"),
    ("http://user:pw@[2001:db8::1]:8080/feed", "http://***@[2001:db8::1]:8080/feed",
     "http://[2001:db8::1]:8080/feed"),
    # A URL that may be cut short is hidden up to its last "@": more, never less.
    ("http://user:pa/ss@host.example/?mail=a@b.example", "http://***@b.example",
     "http://b.example"),
])
def test_credentials_are_hidden_or_dropped(url: str, shown: str, stripped: str) -> None:
    assert without_credentials(url) == shown
    assert strip_credentials(url) == stripped


@pytest.mark.parametrize("url", [
    "https://medium.com/@someone/feed",
    "https://host.example:8080/@someone/feed",
    "https://host.example/users/a@b.example",
    "https://host.example/feed?mail=a@b.example#c@d",
    "http://[2001:db8::1]:8080/@x",
    "http://[2001:db8::1]/feed",
    "http://host.example/feed",
    "feeds.example.org/rss",
    "mailto:a@b.example",
    "",
])
def test_urls_without_credentials_are_unchanged(url: str) -> None:
    assert without_credentials(url) == url
    assert strip_credentials(url) == url


# --- parsing: links are resolved without the source's credentials -------------------------

SECRET = "Hush-7/word"                      # the password, as the server checks it
ENCODED = SECRET.replace("/", "%2F")        # as written in the URL
BASE = f"http://reader:{ENCODED}@news.example/private/feed"
STAMP = format_datetime(datetime.now(UTC) - timedelta(minutes=5), usegmt=True)

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Private wire</title>
<item><title>One</title><link>/story/one</link><guid isPermaLink="false">w-1</guid></item>
<item><title>Two</title><guid>/story/two</guid></item>
<item><title>Three</title><link>three</link></item>
<item><title>Four</title><link>http://news.example@phish.example/four</link></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<id>urn:a</id><entry><id>urn:a:1</id><title>One</title><link href="story/one"/></entry>
<entry><title>Two</title><link href="//reader:x@news.example/two"/></entry></feed>"""

RDF = b"""<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>R</title></channel>
<item rdf:about="/story/one"><title>One</title><link>/story/one</link></item></rdf:RDF>"""

JSON_FEED = json.dumps({
    "version": "https://jsonfeed.org/version/1.1", "title": "J",
    "items": [{"id": "j-1", "title": "One", "url": "/story/one"},
              {"title": "Two", "url": "two"}]}).encode()

PAGE = b"""<html><body>
<article><a href="/story/one">One</a></article>
<article><a href="two">Two</a></article>
<article><a href="http://reader:x@phish.example/three">Three</a></article>
</body></html>"""


def _assert_clean(urls: list[str]) -> None:
    assert urls and all(u.startswith("http") for u in urls)
    for url in urls:
        assert "@" not in url and "reader" not in url and "Hush" not in url, url


@pytest.mark.parametrize("content, fast_path", [
    (RSS, True), (RSS, False), (ATOM, True), (ATOM, False), (RDF, True), (RDF, False),
    (JSON_FEED, True),
])
def test_feed_links_are_resolved_without_credentials(content: bytes, fast_path: bool) -> None:
    feed = parse_feed(content, BASE, fast_path=fast_path)
    _assert_clean([item.url for item in feed.items])
    assert not any("Hush" in item.guid or "reader" in item.guid for item in feed.items)
    assert {"http://news.example/story/one", "http://news.example/private/story/one"} & {
        item.url for item in feed.items}


def test_rss_links_read_as_they_resolve() -> None:
    urls = [item.url for item in parse_feed(RSS, BASE).items]
    assert urls == ["http://news.example/story/one", "http://news.example/story/two",
                    "http://news.example/private/three", "http://phish.example/four"]


def test_an_xml_base_with_credentials_gives_links_without() -> None:
    feed = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" '
            b'xml:base="http://reader:x@news.example/base/"><title>A</title><id>urn:a</id>'
            b'<entry><id>urn:a:1</id><title>One</title><link href="one"/></entry></feed>')
    assert [item.url for item in parse_feed(feed, BASE).items] == [
        "http://news.example/base/one"]


def test_page_links_are_resolved_without_credentials() -> None:
    page = parse_page(PAGE, BASE, "article", "a")
    assert [item.url for item in page.items] == [
        "http://news.example/story/one", "http://news.example/private/two",
        "http://phish.example/three"]
    based = parse_page(b'<head><base href="http://reader:x@news.example/b/"></head>' + PAGE,
                       BASE, "article", "a")
    _assert_clean([item.url for item in based.items])
    assert based.items[1].url == "http://news.example/b/two"


def test_clean_url_drops_credentials_and_an_empty_host() -> None:
    assert clean_url("http://user:pw@news.example/a") == "http://news.example/a"
    assert clean_url("/a", "http://user:pw@news.example/feed") == "http://news.example/a"
    assert clean_url("http://user:pw@/a") == ""


# --- messages, config errors and digests ---------------------------------------------------


@pytest.mark.parametrize("url, message", [
    (f"http://reader:{SECRET}@news.example/feed",
     "sources[0].url: invalid URL 'http://***@news.example/feed': bad host or port; write "
     "/ ? # @ in a user name or password as %2F %3F %23 %40"),
    (f"ftp://reader:{ENCODED}@news.example/",
     "sources[0].url: invalid URL 'ftp://***@news.example/': must be an absolute http:// "
     "or https:// URL"),
])
def test_a_config_error_never_shows_the_password(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_data({"topics": [{"name": "t", "query": "x"}],
                          "sources": [{"name": "s", "url": url}]})
    assert str(caught.value) == message


def test_an_unreadable_hop_is_reported_without_its_password() -> None:
    with pytest.raises(FetchError) as caught:
        check_url_allowed(f"http://reader:{SECRET}@news.example/feed")
    assert str(caught.value) == "invalid URL 'http://***@news.example/feed': bad port"


def test_a_stored_story_url_with_credentials_is_alerted_without() -> None:
    """Stories stored by an earlier version may hold the source's credentials."""
    url = f"http://reader:{ENCODED}@news.example/story/one"
    story = Story(id=1, topic="t", title="One", url=url, published=None, category=None,
                  score=1.0, actors=(), evidence="", sources=(StorySource("s", url, "One", None),))
    digest = Digest(id="d", notifier="n", created_at=datetime.now(UTC), stories=(story,))
    for text in (render_text(digest), render_html(digest),
                 json.dumps(digest_payload(digest, datetime.now(UTC)))):
        assert "Hush" not in text and "reader" not in text
        assert "http://news.example/story/one" in text


# --- the whole path: a private feed and page, polled by `monitor once` ----------------------


def _authorised(body: bytes, content_type: str):
    expected = "Basic " + base64.b64encode(f"reader:{SECRET}".encode()).decode()

    def handler(request: RecordedRequest) -> Response:
        if request.headers.get("Authorization") != expected:
            return Response(401, b"who are you?", {"WWW-Authenticate": 'Basic realm="p"'})
        return Response(body=body, headers={"Content-Type": content_type})
    return handler


WIRE = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Private wire</title>
<item><title>Turkmenistan accepts the credentials of the Taliban's new ambassador in
Ashgabat</title><link>/story/ashgabat-envoy</link><guid isPermaLink="false">pw-1</guid>
<pubDate>{STAMP}</pubDate></item>
<item><title>Belarus lets a Taliban-named charge d'affaires take over Afghanistan's embassy
in Minsk</title><guid>/story/minsk-embassy</guid><pubDate>{STAMP}</pubDate></item>
</channel></rss>""".encode()

MOVED = f"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>M</title>
<id>urn:m</id><updated>{datetime.now(UTC).isoformat()}</updated>
<entry><title>Azerbaijan hands the Afghan embassy in Baku to Taliban diplomats</title>
<link href="baku-embassy"/><updated>{datetime.now(UTC).isoformat()}</updated></entry>
</feed>""".encode()

DESK = b"""<html><body>
<article><a href="/desk/mongolia">Mongolia's foreign ministry receives the credentials of an
envoy sent by the Taliban</a></article>
<article><a href="armenia">Armenia receives the credentials of the Taliban's charge
d'affaires</a></article>
</body></html>"""


def test_the_parser_is_given_the_source_url_without_credentials(tmp_path: Path) -> None:
    jobs: list[ParseJob] = []

    def recording_parser(job: ParseJob) -> ParsedFeed:
        jobs.append(job)
        return run_parse_job(job)

    with LoopbackHTTPServer() as http:
        http.route("/private/wire.rss", _authorised(WIRE, "application/rss+xml"))
        url = f"http://reader:{ENCODED}@127.0.0.1:{http.port}/private/wire.rss"
        app = build_app(load_config_data({   # one process: the parser below is used
            "monitor": {"database": str(tmp_path / "m.db"), "workers": 1},
            "topics": [{"name": "t", "event": "recognition"}],
            "sources": [{"name": "s", "url": url}]}))
        app.pipeline.parser = recording_parser
        try:
            assert app.pipeline.poll(app.config.sources[0]).status == "ok"
        finally:
            app.close()
    assert [job.url for job in jobs] == [http.url("/private/wire.rss")]


def _database_without_fetch_urls(path: Path, copy: Path) -> bytes:
    """The database's bytes once the fetcher's own copy of each source URL is blanked."""
    with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(copy)) as db:
        source.backup(db)       # the -wal file's pages too
        db.execute("PRAGMA journal_mode = DELETE")   # every page in the one file
        db.execute("UPDATE sources SET config_url = '', url = ''")
        db.commit()
        db.execute("VACUUM")    # no free page keeps the old text
    return copy.read_bytes()


def test_source_credentials_reach_no_alert_output_or_store(tmp_path: Path, smtp) -> None:  # noqa: F811
    controller, inbox = smtp
    with LoopbackHTTPServer() as http:
        http.route("/private/wire.rss", _authorised(WIRE, "application/rss+xml"))
        http.route("/private/desk/", _authorised(DESK, "text/html"))
        http.route("/private/old.atom", Response(301, headers={"Location": "/private/new/feed"}))
        http.route("/private/new/feed", _authorised(MOVED, "application/atom+xml"))
        # A hop to a URL whose password has a raw "/": unreadable, reported as such.
        http.route("/private/hop", Response(302, headers={
            "Location": f"http://reader:{SECRET}@127.0.0.1:{http.port}/private/wire.rss"}))
        http.route("/hook", Response(status=204))
        private = f"http://reader:{ENCODED}@127.0.0.1:{http.port}/private"
        config = tmp_path / "monitor.toml"
        config.write_text(f"""
[monitor]
database = "{tmp_path / 'monitor.db'}"
min_host_interval = "0s"
max_per_host = 4

[[topics]]
name = "taliban-recognition"
event = "recognition"
entities = ["Taliban"]

[[sources]]
name = "Private wire"
url = "{private}/wire.rss"

[[sources]]
name = "Moved feed"
url = "{private}/old.atom"

[[sources]]
name = "Private desk"
type = "page"
url = "{private}/desk/"
item_selector = "article"
link_selector = "a"

[[sources]]
name = "Bad hop"
url = "{private}/hop"

[[notifiers]]
name = "digest-file"
type = "file"
path = "{tmp_path / 'digests.log'}"

[[notifiers]]
name = "desk-email"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {controller.port}
security = "none"
from = "monitor@example.org"
to = ["desk@example.org"]

[[notifiers]]
name = "hook"
type = "webhook"
url = "{http.url('/hook')}"
""")
        env = {**os.environ}
        once = monitor(config, "-v", "once", env=env)
        assert once.returncode == 3, once.stderr  # "Bad hop" fails, as it should
        outputs = [once] + [monitor(config, *command, env=env) for command in (
            ("matches", "--since", "1d"), ("status",), ("check-config",), ("deliveries",))]
        hooks = [request.body.decode() for request in http.requests_to("/hook")]
        sent_auth = http.requests_to("/private/wire.rss")[0].headers.get("Authorization")

    # The feature still works: the credentials went to the server as Basic auth.
    assert sent_auth == "Basic " + base64.b64encode(f"reader:{SECRET}".encode()).decode()
    seen = "".join(o.stdout + o.stderr for o in outputs)
    links = [f"http://127.0.0.1:{http.port}{path}" for path in (
        "/story/ashgabat-envoy", "/story/minsk-embassy", "/private/new/baku-embassy",
        "/desk/mongolia", "/private/desk/armenia")]
    hook_text = "".join(hooks)
    digest_file = (tmp_path / "digests.log").read_text()
    emails = "".join(message.as_bytes().decode(errors="replace")
                     + message.get_body(("plain",)).get_content()
                     + message.get_body(("html",)).get_content() for message in inbox.messages)
    for link in links:
        assert link in hook_text and link in digest_file, link
    assert len(inbox.messages) == 1 and f'href="{links[0]}"' in emails
    assert "moved permanently" in seen and "***@127.0.0.1" in seen
    assert f"invalid URL 'http://***@127.0.0.1:{http.port}/private/wire.rss'" in seen
    assert f"http://***@127.0.0.1:{http.port}/private/wire.rss" in outputs[3].stdout
    assert "Turkmenistan" in outputs[1].stdout and links[0] in outputs[1].stdout

    database = _database_without_fetch_urls(tmp_path / "monitor.db", tmp_path / "copy.db")
    for password in (SECRET, ENCODED, "Hush-7"):
        for where, text in (("outputs", seen), ("webhook", hook_text), ("email", emails),
                            ("digest file", digest_file)):
            assert password not in text, where
        assert password.encode() not in database
    for where, text in (("webhook", hook_text), ("email", emails), ("digest file", digest_file)):
        assert "reader" not in text, where


def test_check_config_refuses_a_raw_slash_without_showing_the_password(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(f"""
[[topics]]
name = "t"
query = "Taliban"

[[sources]]
name = "Private wire"
url = "http://reader:{SECRET}@127.0.0.1:9/private/wire.rss"
""")
    result = monitor(config, "check-config", env={**os.environ})
    assert result.returncode == 2
    assert "sources[0].url: invalid URL 'http://***@127.0.0.1:9/private/wire.rss'" in \
        result.stderr
    assert "%2F" in result.stderr and "Hush" not in result.stdout + result.stderr
