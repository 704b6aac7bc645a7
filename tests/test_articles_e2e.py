"""Reading the article, end to end on loopback: real HTTP servers, the real fetcher,
robots.txt, address checks, size caps and deadlines, a real SQLite file.

The first test runs `monitor once` as a user would: a feed item whose headline names the
Taliban but not the event is alerted because its article's first paragraph says the event,
and the webhook and the file digest say the evidence comes from the article. The others
poll in this process, each with the setting or the failure it checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.app import App, build_app
from monitor.config import load_config_data
from monitor.types import ArticleCounts
from monitor.urls import canonical_url
from tests.article_pages import article_page
from tests.loopback import LoopbackHTTPServer, Response

VAGUE = "Taliban delegation lands in Ruritania for a two-day visit"
EVENT = ("Ruritania formally recognised the Taliban government on Tuesday, becoming the "
         "latest state to do so, its foreign ministry said.")
DULL = "The delegation toured a new hospital wing and met traders in the old market."
FOG = "Fog delays the morning ferries across the bay"
CLEAR = "Uruguay formally recognises the Taliban government of Afghanistan"
HTML = {"Content-Type": "text/html; charset=utf-8"}


def rss(server: LoopbackHTTPServer, *items: tuple[str, str, str]) -> bytes:
    """items: (guid, title, path of the link on ``server``), undated."""
    body = "".join(f"<item><guid>{g}</guid><title>{t}</title>"
                   f"<link>{server.url(path)}</link></item>" for g, t, path in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Courier</title>'
            f"{body}</channel></rss>").encode()


def monitor(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), *args],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_a_vague_headline_is_alerted_because_of_its_article(tmp_path: Path) -> None:
    with LoopbackHTTPServer() as http:
        items = [("visit", VAGUE, "/news/ruritania-visit"), ("fog", FOG, "/news/fog")]
        feed = {"items": items}
        http.route("/feed.rss", lambda _r: Response(body=rss(http, *feed["items"]), headers={
            "Content-Type": "application/rss+xml"}))
        http.route("/news/ruritania-visit", Response(body=article_page(VAGUE, [EVENT, DULL]),
                                                     headers=HTML))
        http.route("/hook", Response(status=204))
        digests = tmp_path / "digests.log"
        config = tmp_path / "monitor.toml"
        config.write_text(f"""
[monitor]
database = "{tmp_path / 'monitor.db'}"
min_host_interval = "0s"

[[topics]]
name = "taliban-recognition"
event = "recognition"

[[sources]]
name = "Courier"
url = "{http.url('/feed.rss')}"

[[notifiers]]
name = "hook"
type = "webhook"
url = "{http.url('/hook')}"

[[notifiers]]
name = "file"
type = "file"
path = "{digests}"
""")
        first = monitor(config, "once")
        assert first.returncode == 0, first.stderr

        hooks = http.requests_to("/hook")
        assert len(hooks) == 1
        [story] = json.loads(hooks[0].body)["stories"]
        assert story["title"] == VAGUE
        assert story["evidence"] == EVENT
        assert story["evidence_source"] == "article"
        assert story["category"] == "recognition_granted"
        text = digests.read_text(encoding="utf-8")
        assert f'Evidence:  from the article: "{EVENT}"' in text
        assert FOG not in text
        assert http.requests_to("/news/fog") == []     # it does not name the Taliban

        status = json.loads(monitor(config, "status", "--json").stdout)
        assert status["articles"]["fetched"] == 1
        assert status["articles"]["fetch_articles"] == "candidates"

        # A second cycle: another item (a new guid) links the same article: the cache serves.
        feed["items"] = [*items, ("visit-2", "Taliban envoys meet Ruritanian officials",
                                  "/news/ruritania-visit?utm_source=rss")]
        second = monitor(config, "once")
        assert second.returncode == 0, second.stderr
        assert len(http.requests_to("/news/ruritania-visit")) == 1
        counts = json.loads(monitor(config, "status", "--json").stdout)["articles"]
        assert (counts["fetched"], counts["from_cache"]) == (1, 1)
        shown = monitor(config, "status").stdout
        assert "articles in the last 24h" in shown and "1 from cache" in shown


# -- in this process ---------------------------------------------------------------------------

def make_app(tmp_path: Path, feed_url: str, **monitor: Any) -> App:
    config = load_config_data({
        "monitor": {"database": str(tmp_path / "m.db"), "min_host_interval": "0s",
                    **monitor},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": "courier", "url": feed_url}],
        "notifiers": [{"name": "n", "type": "file", "path": str(tmp_path / "n.log")}]})
    return build_app(config)


def poll(app: App) -> str:
    outcome = app.pipeline.poll(app.config.sources[0])
    app.pipeline.flush()
    return outcome.status


def counts(app: App) -> ArticleCounts:
    return app.store.article_counts(app.clock().replace(year=2000))


def alerted(app: App) -> list[str]:
    return [s.title for s in app.store.matches(app.clock().replace(year=2000))]


def serve_vague_item(server: LoopbackHTTPServer, article: Response) -> None:
    server.route("/feed.rss", Response(body=rss(server, ("visit", VAGUE, "/news/visit"),
                                                ("clear", CLEAR, "/news/clear")),
                                       headers={"Content-Type": "application/rss+xml"}))
    server.route("/news/visit", article)


def test_never_fetches_no_article(tmp_path: Path, fresh_server: LoopbackHTTPServer) -> None:
    serve_vague_item(fresh_server, Response(body=article_page(VAGUE, [EVENT]), headers=HTML))
    app = make_app(tmp_path, fresh_server.url("/feed.rss"), fetch_articles="never")
    try:
        assert poll(app) == "ok"
        assert fresh_server.requests_to("/news/visit") == []
        assert alerted(app) == [CLEAR]
        assert counts(app) == ArticleCounts()
    finally:
        app.close()


def test_robots_disallow_is_obeyed(tmp_path: Path, fresh_server: LoopbackHTTPServer) -> None:
    serve_vague_item(fresh_server, Response(body=article_page(VAGUE, [EVENT]), headers=HTML))
    fresh_server.route("/robots.txt", Response(body=b"User-agent: *\nDisallow: /news/\n"))
    app = make_app(tmp_path, fresh_server.url("/feed.rss"))
    try:
        assert poll(app) == "ok"
        assert fresh_server.requests_to("/robots.txt")
        assert fresh_server.requests_to("/news/visit") == []
        assert alerted(app) == [CLEAR]
        assert counts(app) == ArticleCounts(failed=1)
    finally:
        app.close()


def test_an_article_at_a_private_address_is_refused(
        tmp_path: Path, fresh_server: LoopbackHTTPServer) -> None:
    """The feed is the operator's choice; an article on another host is not, and 127.0.0.1
    on another port is another host: refused without allow_private_networks."""
    with LoopbackHTTPServer() as elsewhere:
        elsewhere.route("/news/visit", Response(body=article_page(VAGUE, [EVENT]),
                                                headers=HTML))
        fresh_server.route("/feed.rss", Response(
            body=rss(elsewhere, ("visit", VAGUE, "/news/visit")),
            headers={"Content-Type": "application/rss+xml"}))
        app = make_app(tmp_path, fresh_server.url("/feed.rss"))
        try:
            assert poll(app) == "ok"
            assert elsewhere.requests == []           # not even its robots.txt
            assert counts(app) == ArticleCounts(failed=1)
            key = canonical_url(elsewhere.url("/news/visit"))     # the cache's key
            [cached] = app.store.cached_articles([key]).values()
            assert "private address 127.0.0.1 refused" in (cached.error or "")
        finally:
            app.close()
        private = make_app(tmp_path / "allowed", fresh_server.url("/feed.rss"),
                           allow_private_networks=True)
        try:
            assert poll(private) == "ok"
            assert len(elsewhere.requests_to("/news/visit")) == 1
            assert alerted(private) == [VAGUE]
        finally:
            private.close()


@pytest.mark.parametrize(("article", "settings"), [
    (Response(status=500, body=b"oops"), {}),
    (Response(body=article_page(VAGUE, [EVENT] * 400), headers=HTML),
     {"max_body_size": 4096}),
    (Response(body=article_page(VAGUE, [EVENT]), headers=HTML, delay=3.0),
     {"fetch_deadline": "1s", "read_timeout": "1s"}),
    (Response(body=article_page(VAGUE, [EVENT]), headers=HTML, trickle=0.05),
     {"fetch_deadline": "1s"}),
], ids=["500", "huge", "slow", "trickling"])
def test_a_failing_article_never_hurts_the_poll(
        tmp_path: Path, fresh_server: LoopbackHTTPServer, article: Response,
        settings: dict[str, Any]) -> None:
    serve_vague_item(fresh_server, article)
    app = make_app(tmp_path, fresh_server.url("/feed.rss"), **settings)
    try:
        assert poll(app) == "ok"
        state = app.store.source_state("courier")
        assert (state.last_items, state.last_new, state.last_error) == (2, 2, None)
        assert alerted(app) == [CLEAR]             # the vague item: on its headline alone
        assert counts(app) == ArticleCounts(failed=1)
    finally:
        app.close()


def test_the_budget_is_honoured(tmp_path: Path, fresh_server: LoopbackHTTPServer) -> None:
    paths = [f"/news/{n}" for n in range(3)]
    fresh_server.route("/feed.rss", Response(
        body=rss(fresh_server, *((str(n), f"{VAGUE} ({n})", p) for n, p in enumerate(paths))),
        headers={"Content-Type": "application/rss+xml"}))
    for path in paths:
        fresh_server.route(path, Response(body=article_page(VAGUE, [DULL]), headers=HTML))
    app = make_app(tmp_path, fresh_server.url("/feed.rss"), article_budget=1)
    try:
        assert poll(app) == "ok"
        assert sum(len(fresh_server.requests_to(p)) for p in paths) == 1
        assert counts(app) == ArticleCounts(fetched=1, skipped=2)
    finally:
        app.close()
