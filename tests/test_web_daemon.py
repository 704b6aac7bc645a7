"""The JSON API against a live daemon: `monitor run` in a subprocess polling loopback feeds
and delivering to a loopback webhook that refuses, then takes, its digest."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.livedaemon import Feed, Hook, LiveDaemon
from tests.loopback import LoopbackHTTPServer, wait_for

TOKEN = "t0ken-for-the-web-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GRANT = ("grant-1", "Russia recognises the Taliban government",
         "Moscow accepted the credentials of the Taliban-appointed ambassador on Thursday.")


def config(feed: Feed, broken: str, hook: Hook) -> str:
    return f"""
[[topics]]
name = "taliban-recognition"
event = "recognition"

[[sources]]
name = "Wire"
url = "{feed.url}"
interval = "1h"

[[sources]]
name = "Broken feed"
url = "{broken}"
interval = "1h"

[[notifiers]]
name = "hook"
type = "webhook"
url = "{hook.url}"
"""


def get(daemon: LiveDaemon, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(daemon.url(path), timeout=10, **kwargs)


def post(daemon: LiveDaemon, path: str, **kwargs: Any) -> requests.Response:
    return requests.post(daemon.url(path), timeout=10, **kwargs)


def source(daemon: LiveDaemon, name: str) -> dict[str, Any]:
    response = get(daemon, f"/api/v1/sources/{quote(name, safe='')}")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()["source"]
    return document


def metric(daemon: LiveDaemon, name: str, **labels: str) -> float:
    """One sample of the daemon's GET /metrics (0 when it has none yet)."""
    response = get(daemon, "/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_the_api_follows_polls_and_deliveries_of_a_live_daemon(tmp_path: Path) -> None:
    with LoopbackHTTPServer() as server:
        feed = Feed(server, "/wire.rss", [("w-1", "Weather in Kabul", "Sunny and dry.")])
        hook = Hook(server)
        hook.status = 400              # refused for good: the digest is dead-lettered
        with LiveDaemon(tmp_path, config(feed, server.url("/missing.xml"), hook),
                        env={"NM_WEB_TOKEN": TOKEN}, http='token_env = "NM_WEB_TOKEN"') \
                as daemon:
            # The first polls run at start: one source works, the other fails.
            wait_for(lambda: source(daemon, "Broken feed")["consecutive_failures"] == 1, 20)
            wait_for(lambda: source(daemon, "Wire")["last_status"] == "ok", 20)
            listed = {s["name"]: s for s in get(daemon, "/api/v1/sources").json()["sources"]}
            assert listed["Wire"]["health"] == "ok" and listed["Wire"]["items_seen"] == 1
            assert listed["Broken feed"]["health"] == "failing"
            assert "404" in listed["Broken feed"]["last_error"]
            first_fetch = listed["Wire"]["last_fetch_at"]
            # The daemon's own metrics, served beside the API, count the same polls.
            assert metric(daemon, "monitor_polls_total", result="ok") == 1
            assert metric(daemon, "monitor_polls_total", result="error") == 1
            assert metric(daemon, "monitor_sources", health="failing") == 1
            assert metric(daemon, "monitor_last_cycle_timestamp_seconds") > 0
            assert get(daemon, "/api/v1/stories").json() == {"stories": []}

            # Poll now: the daemon polls at once, not in an hour; the values move.
            feed.items.append(GRANT)
            answer = post(daemon, "/api/v1/sources/Wire/poll", headers=AUTH)
            assert answer.status_code == 202, answer.text
            assert post(daemon, f"/api/v1/sources/{quote('Broken feed')}/poll",
                        headers=AUTH).status_code == 202
            wait_for(lambda: source(daemon, "Wire")["items_seen"] == 2, 15)
            wait_for(lambda: source(daemon, "Broken feed")["consecutive_failures"] == 2, 15)
            wire = source(daemon, "Wire")
            assert wire["last_fetch_at"] > first_fetch
            assert metric(daemon, "monitor_polls_total", result="ok") == 2
            assert metric(daemon, "monitor_items_new_total") == 2
            assert metric(daemon, "monitor_stories_total", topic="taliban-recognition",
                          category="recognition_granted") == 1
            assert [i["title"] for i in wire["items"]] == [GRANT[1], "Weather in Kabul"]
            assert wire["polls"][0]["new"] == 1 and len(wire["polls"]) == 2

            stories = get(daemon, "/api/v1/stories?since=1d&category=recognition_granted")
            assert stories.status_code == 200
            [story] = stories.json()["stories"]
            assert (story["title"], story["sources"], story["actors"]) == (
                GRANT[1], ["Wire"], ["Russia"])
            assert story["outlets"][0]["url"] == "https://news.example/grant-1"
            assert get(daemon, "/api/v1/stories?category=recognition_step").json() == {
                "stories": []}

            # The webhook refused the digest: it is dead. A retry sends it again.
            dead = wait_for(lambda: get(daemon, "/api/v1/deliveries?state=dead").json()[
                "deliveries"], 15)
            assert isinstance(dead, list) and dead[0]["notifier"] == "hook"
            assert dead[0]["stories"] == 1 and "HTTP 400" in dead[0]["last_error"]
            assert hook.received() == 1
            assert metric(daemon, "monitor_deliveries", notifier="hook", state="dead") == 1
            assert metric(daemon, "monitor_delivery_attempts_total", notifier="hook",
                          result="dead") == 1
            hook.status = 204
            retried = post(daemon, f"/api/v1/deliveries/{dead[0]['id']}/retry", headers=AUTH)
            assert retried.status_code == 202, retried.text
            wait_for(lambda: hook.received() == 2, 15)
            wait_for(lambda: not get(daemon, "/api/v1/deliveries").json()["deliveries"], 15)
            delivered = get(daemon, "/api/v1/deliveries?state=delivered").json()["deliveries"]
            assert [d["id"] for d in delivered] == [dead[0]["id"]]
            assert metric(daemon, "monitor_delivery_attempts_total", notifier="hook",
                          result="ok") == 1
            assert metric(daemon, "monitor_deliveries", notifier="hook", state="dead") == 0
            assert metric(daemon, "monitor_alert_latency_seconds_count") == 1

            assert get(daemon, "/healthz").status_code == 200
            assert get(daemon, "/readyz").status_code == 200
            port = int(daemon.base.rsplit(":", 1)[1])
            assert daemon.stop() == 0
            assert TOKEN not in daemon.log()
            assert "daemon stopped" in daemon.log()
    # Nothing listens once the daemon stopped.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_writes_need_the_token_and_bad_values_name_their_parameter(tmp_path: Path) -> None:
    with LoopbackHTTPServer() as server:
        feed = Feed(server, "/wire.rss", [])
        hook = Hook(server)
        with LiveDaemon(tmp_path, config(feed, server.url("/missing.xml"), hook),
                        env={"NM_WEB_TOKEN": TOKEN}, http='token_env = "NM_WEB_TOKEN"') \
                as daemon:
            for headers in ({}, {"Authorization": "Bearer wrong-token"},
                            {"Authorization": f"Basic {TOKEN}"}):
                for path in ("/api/v1/sources/Wire/poll", "/api/v1/deliveries/x/retry"):
                    refused = post(daemon, path, headers=headers)
                    assert refused.status_code == 401, (path, headers)
                    assert refused.json()["error"] in (
                        "wrong token", "this needs the header Authorization: Bearer <token>")
                    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert "Poll of source" not in daemon.log() and "asked for" not in daemon.log()

            for path, parameter in [
                ("/api/v1/stories?since=soon", "since"),
                ("/api/v1/stories?topic=cricket", "topic"),
                ("/api/v1/stories?category=recognition_maybe", "category"),
                ("/api/v1/stories?sinse=7d", "sinse"),
                ("/api/v1/stories?since=1d&since=2d", "since"),
                ("/api/v1/deliveries?state=lost", "state"),
                ("/api/v1/sources?verbose=1", "verbose"),
            ]:
                bad = get(daemon, path)
                assert bad.status_code == 400, path
                assert bad.json()["parameter"] == parameter
                assert bad.json()["error"].startswith(f"{parameter}: ")

            for method, path in [(get, "/api/v1/sources/Nowhere"),
                                 (post, "/api/v1/sources/Nowhere/poll"),
                                 (post, "/api/v1/deliveries/no-such-id/retry"),
                                 (get, "/api/v1/nothing-here")]:
                missing = method(daemon, path, headers=AUTH)
                assert missing.status_code == 404, path
                assert missing.json()["error"]
            assert daemon.stop() == 0
            assert TOKEN not in daemon.log()
