"""The HTTP face's application served by its real server (uvicorn on loopback) over a real
SQLite store: the pages, the API's shapes, who may do what, the probes, /metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from monitor import report
from monitor.commit import commit_poll
from monitor.config import Config, HttpSettings, load_config_data
from monitor.decide import after_failure, after_success
from monitor.liveness import PollLog
from monitor.outbox import Outbox
from monitor.store import Store
from monitor.types import (
    Classification,
    NewItem,
    ParsedItem,
    PollOutcome,
    PollRecord,
    StoryDecision,
)
from monitor.web.app import create_app
from monitor.web.context import NodeInfo, Web
from monitor.web.server import WebServer
from tests.fakes import FixedClock, temp_store

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TOKEN = "unit-t0ken-never-logged"
CSRF = "csrf-of-this-process"
HOSTILE = "<script>window.__pwned = 1</script>Russia recognises the Taliban government"
SOURCES = [("Wire", "https://wire.example/rss"), ("Broken", "https://broken.example/rss"),
           ("Desk / world", "https://desk.example/rss")]


@dataclass
class FakeControl:
    """Stands for the daemon: records what the face asks of it."""

    recent_polls: PollLog = field(default_factory=PollLog)
    polled: list[str] = field(default_factory=list)
    deliveries_asked: int = 0
    problem: str | None = None

    def poll_now(self, name: str) -> bool:
        self.polled.append(name)
        return True

    def deliver_now(self) -> None:
        self.deliveries_asked += 1

    def liveness(self) -> str | None:
        return self.problem


def config(extra: dict[str, Any] | None = None) -> Config:
    return load_config_data({
        "topics": [{"name": "taliban-recognition", "event": "recognition"}],
        "sources": [{"name": n, "url": u} for n, u in SOURCES],
        "notifiers": [{"name": "hook", "type": "webhook", "url": "https://hook.example/"}],
        **(extra or {})})


def fill(store: Store) -> str:
    """One story from Wire (a hostile title), a failing Broken, a dead delivery: its id."""
    wire = store.source_state("Wire")
    item = ParsedItem(guid="g1", url="https://news.example/grant?utm_source=rss",
                      title=HOSTILE, summary="Moscow accepted the ambassador's credentials.")
    verdict = Classification(topic="taliban-recognition", match=True, score=0.93,
                             category="recognition_granted", actors=("Russia",),
                             evidence="Russia formally recognised the Taliban government.")
    state = after_success(wire, NOW - timedelta(minutes=5), status="ok",
                          interval=timedelta(minutes=15), jitter=0.5, items=1, new=1)
    commit_poll(store, PollRecord(state, (NewItem(item, item.url),),
                                  (StoryDecision(0, "taliban-recognition", verdict),)),
                {"taliban-recognition": ["hook"]}, NOW - timedelta(minutes=5))
    broken = after_failure(store.source_state("Broken"), NOW - timedelta(minutes=2),
                           error="FetchError: HTTP 503 <b>Service Unavailable</b>",
                           interval=timedelta(minutes=15), max_backoff=timedelta(hours=6),
                           jitter=0.5)
    store.record_states([broken])
    digest = Outbox(store).claim("hook", NOW - timedelta(minutes=4), "d-dead-1")
    assert digest is not None
    store.mark_sending(digest.id, NOW - timedelta(minutes=4))
    store.mark_dead(digest.id, "webhook https://hook.example/: HTTP 400", NOW)
    return digest.id


@dataclass
class Served:
    web: Web
    control: FakeControl
    store: Store
    base: str
    dead: str

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.base + path, timeout=10, allow_redirects=False, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.base + path, timeout=10, allow_redirects=False, **kwargs)

    def form(self, path: str, fields: dict[str, str], **headers: str) -> requests.Response:
        return self.post(path, data=fields, headers={"Origin": self.base,
                                                     "Sec-Fetch-Site": "same-origin",
                                                     **headers})


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """serve(http=..., nodes=..., metrics=..., database=...) -> a Served app on 127.0.0.1,
    its store a new SQLite file, or ``database`` (the `database` fixture's)."""
    servers: list[WebServer] = []
    stores: list[Store] = []

    def start(http: dict[str, Any] | None = None, database: str | None = None,
              **options: Any) -> Served:
        folder = tmp_path / f"app{len(stores)}"
        folder.mkdir()
        store = temp_store(folder, SOURCES, NOW - timedelta(hours=1), database)
        stores.append(store)
        dead = fill(store)
        control = FakeControl()
        web = Web(config(), store, FixedClock(NOW), control, nodes=options.pop("nodes", None))
        settings = HttpSettings.model_validate(http or {"listen": "127.0.0.1:0"})
        server = WebServer(create_app(web, settings, csrf=CSRF, **options), "127.0.0.1", 0)
        server.start()
        servers.append(server)
        return Served(web, control, store, server.url.rstrip("/"), dead)

    yield start
    for server in servers:
        server.stop()
    for store in stores:
        store.close()


def test_the_status_page_shows_sources_stories_and_deliveries(serve: Any) -> None:
    app = serve()
    page = app.get("/")
    assert page.status_code == 200
    html = page.text
    assert '<meta name="viewport"' in html and 'http-equiv="refresh"' in html
    assert "<script" not in html and "http://" not in html.split("<body>")[0]  # no asset
    # Feed text is escaped: the hostile title shows as text.
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;Russia recognises" in html
    # its place in the event ledger, as in the alerts
    assert "First: Russia recognised the Taliban government" in html
    # The failing source first, with its error (escaped too), then the others.
    assert html.index(">Broken<") < html.index(">Desk / world<") < html.index(">Wire<")
    assert "FetchError: HTTP 503 &lt;b&gt;Service Unavailable&lt;/b&gt;" in html
    assert 'href="/sources/Desk%20%2F%20world"' in html
    # The story: category, actors, evidence, lead and its outlet's link (no tracker).
    for shown in ("Recognition granted", "actors: Russia",
                  "Russia formally recognised the Taliban government.",
                  "Moscow accepted the ambassador&#39;s credentials.",
                  'href="https://news.example/grant"'):
        assert shown in html, shown
    # The dead delivery, with its retry button carrying this process's CSRF token.
    assert app.dead in html and "HTTP 400" in html
    assert f'name="csrf" value="{CSRF}"' in html
    assert "Nodes" not in html          # one node: no section


def test_the_nodes_section_lists_a_cluster_only(serve: Any) -> None:
    nodes = [NodeInfo("node-a", NOW - timedelta(seconds=5), "3 sources leased"),
             NodeInfo("node-<b>", NOW - timedelta(minutes=3))]
    html = serve(nodes=lambda: nodes).get("/").text
    assert "<h2 id=\"nodes\">Nodes</h2>" in html
    assert "node-a" in html and "3 sources leased" in html and "node-&lt;b&gt;" in html
    assert "Nodes" not in serve(nodes=lambda: nodes[:1]).get("/").text


def test_the_page_of_a_source(serve: Any) -> None:
    app = serve()
    app.control.recent_polls.record(NOW - timedelta(minutes=5), PollOutcome(
        "Wire", "ok", items=1, new=1, matched=1, duration=0.25))
    page = app.get("/sources/Wire")
    assert page.status_code == 200
    assert "&lt;script&gt;window.__pwned" in page.text and "<script" not in page.text
    assert "0.25s" in page.text and "taliban-recognition #1" in page.text
    assert 'action="/actions/poll"' in page.text
    assert app.get("/sources/Desk%20%2F%20world").status_code == 200
    missing = app.get("/sources/Nowhere")
    assert missing.status_code == 404 and "no source named &#39;Nowhere&#39;" in missing.text


def test_the_api_gives_what_the_command_line_gives(serve: Any, database: str) -> None:
    """No second path to the data: the same shapes as `monitor status/matches/deliveries
    --json`, from the same store (on each backend)."""
    app = serve(database=database)
    states = app.store.source_states()
    cli_status = json.loads(report.status_json(app.web.config, states, NOW, []))
    assert app.get("/api/v1/sources").json() == {"sources": cli_status["sources"]}
    cli_matches = json.loads(report.matches_json(app.store.matches(NOW - timedelta(days=7))))
    assert app.get("/api/v1/stories?since=7d").json() == cli_matches
    assert cli_matches["stories"][0]["title"] == HOSTILE      # JSON carries the text as is
    rows = app.store.delivery_rows(("dead",))
    assert app.get("/api/v1/deliveries?state=dead").json() == json.loads(
        report.deliveries_json(rows))
    detail = app.get("/api/v1/sources/Broken").json()["source"]
    assert detail["health"] == "failing" and detail["failing_since"] is not None
    assert detail["items"] == [] and detail["polls"] == []
    wire = app.get("/api/v1/sources/Wire").json()["source"]
    assert wire["items"][0]["stories"] == [{"topic": "taliban-recognition", "id": 1,
                                            "alerted": True}]
    assert app.get("/api/v1/stories?since=1m").json() == {"stories": []}


def test_reads_are_open_on_loopback_and_api_writes_need_a_configured_token(
        serve: Any) -> None:
    app = serve()
    assert app.get("/api/v1/sources").status_code == 200
    refused = app.post("/api/v1/sources/Wire/poll", headers={"Authorization": "Bearer x"})
    assert refused.status_code == 403 and "token_env" in refused.json()["error"]
    assert app.control.polled == []


def test_a_public_listen_needs_the_token_for_every_request(
        serve: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("NM_UNIT_TOKEN", TOKEN)
    app = serve({"listen": "0.0.0.0:0", "token_env": "NM_UNIT_TOKEN"},
                metrics=lambda: (b"monitor_up 1\n", "text/plain; version=0.0.4"))
    good = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/", "/sources/Wire", "/api/v1/sources", "/api/v1/stories", "/metrics",
                 "/healthz", "/readyz"):
        assert app.get(path).status_code == 401, path
        assert app.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert app.get(path, headers=good).status_code == 200, path
    assert app.get("/api/v1/sources").json()["error"].startswith("this needs the header")
    # A form post needs the bearer token too, besides its CSRF token.
    assert app.form("/actions/poll", {"csrf": CSRF, "source": "Wire"}).status_code == 401
    assert app.form("/actions/poll", {"csrf": CSRF, "source": "Wire"},
                    **good).status_code == 303
    assert app.post("/api/v1/sources/Wire/poll", headers=good).status_code == 202
    assert app.control.polled == ["Wire", "Wire"]
    assert TOKEN not in caplog.text


def test_another_host_name_is_refused_on_loopback(serve: Any) -> None:
    """A site whose name was made to resolve to 127.0.0.1 (DNS rebinding) reads nothing."""
    app = serve()
    port = app.base.rsplit(":", 1)[1]
    assert app.get("/", headers={"Host": f"evil.example:{port}"}).status_code == 421
    assert app.get("/api/v1/sources", headers={"Host": "evil.example"}).status_code == 421
    assert app.get("/", headers={"Host": f"localhost:{port}"}).status_code == 200


def test_the_retry_button_retries_a_dead_delivery(serve: Any) -> None:
    app = serve()
    answer = app.form("/actions/retry", {"csrf": CSRF, "id": app.dead, "next": "/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/?done=retried"
    assert app.store.delivery_rows(("dead",)) == []
    [row] = app.store.delivery_rows(("failed",))
    assert row["id"] == app.dead and row["next_attempt_at"] <= NOW.isoformat()
    assert app.control.deliveries_asked == 1
    assert "made due now" in app.get("/?done=retried").text
    # Delivered or unknown: nothing to retry.
    app.store.mark_delivered(app.dead, NOW)
    assert app.form("/actions/retry", {"csrf": CSRF, "id": app.dead}).status_code == 404


@pytest.mark.parametrize("fields, headers, status", [
    ({"id": "d-dead-1"}, {}, 403),                                    # no CSRF token
    ({"id": "d-dead-1", "csrf": "guessed"}, {}, 403),                 # a wrong one
    ({"id": "d-dead-1", "csrf": CSRF}, {"Sec-Fetch-Site": "cross-site"}, 403),
    ({"id": "d-dead-1", "csrf": CSRF}, {"Origin": "http://evil.example"}, 403),
    ({"id": "d-dead-1", "csrf": CSRF, "pad": "x" * 5000}, {}, 413),   # too large
])
def test_a_form_post_from_elsewhere_is_refused(serve: Any, fields: dict[str, str],
                                               headers: dict[str, str], status: int) -> None:
    app = serve()
    assert app.form("/actions/retry", fields, **headers).status_code == status
    assert [r["id"] for r in app.store.delivery_rows(("dead",))] == [app.dead]
    assert app.control.deliveries_asked == 0


def test_the_poll_button_asks_the_daemon_and_goes_back_where_it_came_from(
        serve: Any) -> None:
    app = serve()
    answer = app.form("/actions/poll", {"csrf": CSRF, "source": "Desk / world",
                                        "next": "/sources/Desk%20%2F%20world"})
    assert answer.headers["location"] == "/sources/Desk%20%2F%20world?done=polled"
    assert app.control.polled == ["Desk / world"]
    elsewhere = app.form("/actions/poll", {"csrf": CSRF, "source": "Wire",
                                           "next": "//evil.example/"})
    assert elsewhere.headers["location"] == "/?done=polled"
    assert app.form("/actions/poll", {"csrf": CSRF, "source": "Nowhere"}).status_code == 404


def test_healthz_follows_the_scheduler_and_readyz_the_database(serve: Any,
                                                              database: str) -> None:
    app = serve(database=database)
    ok = app.get("/healthz")
    assert (ok.status_code, ok.text) == (200, "ok: the scheduler ticks\n")
    assert app.get("/readyz").status_code == 200
    app.control.problem = "the scheduler last ticked 75s ago (more than 60s)"
    stale = app.get("/healthz")
    assert stale.status_code == 503
    assert stale.text == "unhealthy: the scheduler last ticked 75s ago (more than 60s)\n"
    app.store.close()
    down = app.get("/readyz")
    assert down.status_code == 503 and down.text.startswith("not ready: the database")


def test_metrics_is_served_only_when_given(serve: Any) -> None:
    calls: list[int] = []

    def metrics() -> tuple[bytes, str]:
        calls.append(1)
        return b"# TYPE monitor_up gauge\nmonitor_up 1\n", "text/plain; version=0.0.4"

    app = serve(metrics=metrics)
    scraped = app.get("/metrics")
    assert scraped.status_code == 200 and scraped.text.endswith("monitor_up 1\n")
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert calls == [1]
    assert serve().get("/metrics").status_code == 404


def test_every_answer_forbids_scripts_and_framing(serve: Any) -> None:
    app = serve()
    for path in ("/", "/api/v1/sources", "/nowhere"):
        headers = app.get(path).headers
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
    assert app.get("/nowhere").text.count("no such page") == 1


def test_a_recovered_source_keeps_its_last_error_on_the_page(serve: Any) -> None:
    app = serve()
    broken = app.store.source_state("Broken")
    app.store.record_states([replace(after_success(
        broken, NOW, status="ok", interval=timedelta(minutes=15), jitter=0.5))])
    row = app.get("/api/v1/sources/Broken").json()["source"]
    assert row["health"] == "ok" and "HTTP 503" in row["last_error"]
    assert "HTTP 503" in app.get("/").text


def test_the_store_reads_of_the_http_face(tmp_path: Path) -> None:
    from monitor.errors import StoreError

    store = temp_store(tmp_path, SOURCES, NOW)
    try:
        fill(store)
        for n in range(3):
            item = ParsedItem(guid=f"more-{n}", url=f"https://news.example/{n}",
                              title=f"Item {n}")
            commit_poll(store, PollRecord(store.source_state("Wire"),
                                          (NewItem(item, item.url, reason="old"),)),
                        {}, NOW + timedelta(minutes=n))
        latest = store.source_items("Wire", 2)
        assert [(i.title, i.alert) for i in latest] == [("Item 2", False), ("Item 1", False)]
        [first] = [i for i in store.source_items("Wire", 10) if i.title == HOSTILE]
        assert [(m.topic, m.story_id) for m in first.matches] == [("taliban-recognition", 1)]
        assert store.source_items("Broken", 10) == []
        store.ping()
    finally:
        store.close()
    with pytest.raises(StoreError):
        store.ping()


def test_the_server_listens_on_ipv6_loopback_and_says_when_a_port_is_taken(
        tmp_path: Path) -> None:
    import socket

    from monitor.errors import MonitorError
    from monitor.web.server import _listening_socket

    if not socket.has_ipv6:
        pytest.skip("this machine has no IPv6")
    store = temp_store(tmp_path, SOURCES, NOW)
    settings = HttpSettings(listen="[::1]:0")
    server = WebServer(create_app(Web(config(), store, FixedClock(NOW)), settings),
                       settings.host, settings.port)
    try:
        server.start()
    except MonitorError as exc:
        store.close()
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        assert server.url.startswith("http://[::1]:")
        assert requests.get(server.url + "readyz", timeout=10).status_code == 200
        taken = WebServer(create_app(Web(config(), store, FixedClock(NOW)), settings),
                          "::1", server.port)
        with pytest.raises(MonitorError, match=rf"http: cannot listen on ::1:{server.port}: "
                                               r"Address already in use"):
            taken.start()
    finally:
        server.stop()
        store.close()
    # asyncio turns Nagle's algorithm off only on sockets that name their protocol.
    with _listening_socket("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP
