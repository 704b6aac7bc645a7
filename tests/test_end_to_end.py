"""The whole pipeline on real parts: feeds, a page, SMTP and a webhook receiver on loopback.

`monitor once` runs as a subprocess, exactly as a user or cron would run it, on each backend:
a SQLite file and a PostgreSQL database.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.loopback import LoopbackHTTPServer, Response

NOW = datetime.now(UTC).replace(microsecond=0)


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """items: (guid, title, summary)."""
    entries = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title>"
        f"<link>https://wire.example/{guid}?utm_source=rss</link>"
        f"<description>{summary}</description>"
        f"<pubDate>{format_datetime(NOW - timedelta(minutes=30), usegmt=True)}</pubDate></item>"
        for guid, title, summary in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire One</title>'
            f"<link>https://wire.example/</link>{entries}</channel></rss>").encode()


def atom(items: list[tuple[str, str, str]]) -> bytes:
    stamp = (NOW - timedelta(minutes=20)).isoformat()
    entries = "".join(
        f"<entry><id>urn:gazette:{gid}</id><title>{title}</title>"
        f'<link href="https://gazette.example/news/{gid}"/><updated>{stamp}</updated>'
        f"<summary>{summary}</summary></entry>" for gid, title, summary in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Gazette</title><id>urn:gazette</id><updated>{stamp}</updated>"
            f"{entries}</feed>").encode()


PAGE = b"""<html><body><main>
<article><h2><a href="/un/seat-decision">UN credentials committee again defers the Taliban's
bid for Afghanistan's seat at the General Assembly</a></h2></article>
<article><h2><a href="/quake/relief">Relief convoys reach villages hit by the Kunar
earthquake</a></h2></article>
</main></body></html>"""

WIRE_ITEMS = [
    ("kz-1", "Kazakhstan accepts credentials of Taliban-appointed ambassador",
     "Astana formally accepted the credentials of the envoy named by the Taliban."),
    ("curbs-1", "Taliban announce new curbs on girls' schooling in Herat", ""),
    ("phones-1", "Phone makers race to improve facial recognition in low light", ""),
    ("spain-1", "Spain moves to recognise a Palestinian state", ""),
]
GAZETTE_ITEMS = [
    ("a1", "Kazakhstan accepts credentials of the Taliban's ambassador in Astana",
     "The Kazakh foreign ministry accepted the credentials of the Taliban-appointed envoy."),
    ("a2", "EU says it will not recognise the Taliban government until women's rights "
           "are restored", ""),
    ("a3", "Afghanistan beat Ireland by six wickets in Sharjah", ""),
]
FOLLOW_UP = ("uz-1", "Uzbekistan upgrades Taliban envoy to full ambassador",
             "Tashkent said it would accept the Taliban's nominee as ambassador.")


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def smtp():
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def monitor(config: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), *args],
                          capture_output=True, text=True, timeout=120, env=env)


def story_titles(message: email.message.EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def test_feeds_and_page_to_email_and_webhook(tmp_path: Path, database: str, smtp) -> None:
    controller, inbox = smtp
    secret = "s3cret-for-the-hook"
    env = {**os.environ, "E2E_HOOK_SECRET": secret}
    with LoopbackHTTPServer() as http:
        wire = {"items": list(WIRE_ITEMS)}
        http.route("/wire.rss", lambda _r: Response(body=rss(wire["items"]), headers={
            "Content-Type": "application/rss+xml"}))
        http.route("/gazette.atom", Response(body=atom(GAZETTE_ITEMS),
                                             headers={"Content-Type": "application/atom+xml"}))
        http.route("/desk/", Response(body=PAGE, headers={"Content-Type": "text/html"}))
        cut_off = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Cut off'
        http.route("/broken.xml", Response(body=cut_off,
                                           headers={"Content-Type": "application/rss+xml"}))
        http.route("/hook", Response(status=204))
        config = tmp_path / "monitor.toml"
        config.write_text(f"""
[monitor]
database = "{database}"
min_host_interval = "0s"
max_per_host = 4
fetch_articles = "never"   # the items link to hosts nobody serves; see test_articles_e2e.py

[[topics]]
name = "taliban-recognition"
event = "recognition"
entities = ["Taliban", "Islamic Emirate of Afghanistan"]

[[sources]]
name = "Wire One"
url = "{http.url('/wire.rss')}"

[[sources]]
name = "Gazette"
url = "{http.url('/gazette.atom')}"

[[sources]]
name = "Desk page"
type = "page"
url = "{http.url('/desk/')}"
item_selector = "article"
link_selector = "a"

[[sources]]
name = "Broken feed"
url = "{http.url('/broken.xml')}"

[[sources]]
name = "Missing feed"
url = "{http.url('/missing.xml')}"

[[notifiers]]
name = "desk-email"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {controller.port}
security = "none"
from = "monitor@example.org"
to = ["desk@example.org"]

[[notifiers]]
name = "ops-webhook"
type = "webhook"
url = "{http.url('/hook')}"
secret_env = "E2E_HOOK_SECRET"
""")
        first = monitor(config, "once", env=env)
        assert first.returncode == 3, first.stderr  # the broken and missing feeds

        # One email with exactly the three recognition stories; the two outlets' reports
        # of Kazakhstan's step are one story listing both sources.
        assert len(inbox.messages) == 1, first.stdout + first.stderr
        text = story_titles(inbox.messages[0])
        assert "Kazakhstan accepts credentials" in text
        assert "will not recognise the Taliban" in text
        assert "Afghanistan's seat" in text
        for decoy in ("girls' schooling", "facial recognition", "Palestinian", "Ireland",
                      "Kunar"):
            assert decoy not in text
        assert inbox.messages[0].get_body(("html",)) is not None

        hooks = http.requests_to("/hook")
        assert len(hooks) == 1
        body = json.loads(hooks[0].body)
        assert hooks[0].headers["X-Monitor-Delivery"] == body["id"]
        expected = hmac.new(secret.encode(), hooks[0].body, hashlib.sha256).hexdigest()
        assert hooks[0].headers["X-Monitor-Signature"] == f"sha256={expected}"
        stories = body["stories"]
        assert len(stories) == 3
        kazakh = next(s for s in stories if "Kazakhstan" in s["title"])
        assert sorted(kazakh["sources"]) == ["Gazette", "Wire One"]
        assert kazakh["category"] == "recognition_step"
        assert "Kazakhstan" in kazakh["actors"]
        refusal = next(s for s in stories if "will not recognise" in s["title"])
        assert refusal["category"] == "recognition_refused_or_debated"

        # The broken and the missing feed are visible with their errors and stopped nothing.
        status = monitor(config, "status", env=env)
        assert status.returncode == 0, status.stderr
        lines = {line.split("  ")[0]: line for line in status.stdout.splitlines()}
        assert "failing" in lines["Broken feed"] and "ParseError" in lines["Broken feed"]
        assert "failing" in lines["Missing feed"] and "404" in lines["Missing feed"]
        assert " ok " in lines["Wire One"] and " ok " in lines["Desk page"]

        # Second run: a follow-up appears, and a known item's headline is edited.
        wire["items"] = [FOLLOW_UP, *WIRE_ITEMS]
        wire["items"][1] = ("kz-1", "UPDATED: Kazakhstan accepts Taliban envoy's credentials",
                            WIRE_ITEMS[0][2])
        second = monitor(config, "once", env=env)
        assert second.returncode == 3, second.stderr  # the broken and missing feeds
        assert len(inbox.messages) == 2
        text = story_titles(inbox.messages[1])
        assert "Uzbekistan upgrades Taliban envoy" in text
        assert "Kazakhstan" not in text and "will not recognise" not in text
        hooks = http.requests_to("/hook")
        assert len(hooks) == 2
        assert [s["title"] for s in json.loads(hooks[1].body)["stories"]] == [FOLLOW_UP[1]]

        # A third run with nothing new sends nothing.
        third = monitor(config, "once", env=env)
        assert third.returncode == 3, third.stderr  # the broken and missing feeds
        assert len(inbox.messages) == 2 and len(http.requests_to("/hook")) == 2
