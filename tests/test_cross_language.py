"""One step reported in Russian and in English by two outlets is one story, end to end.

`monitor once` runs as a subprocess against two feeds on a loopback server, one Russian and
one English, and a loopback webhook receiver. The headlines of the two languages share no
word: they are one story because they report the same kind of step by the same state
(monitor/stories.py, ``same_step``). The headlines are our own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from tests.loopback import LoopbackHTTPServer, Response

ENGLISH = [
    ("en-1", "Russia becomes the first state to formally recognise the Taliban government",
     "Moscow said it had accepted the credentials of the Islamic Emirate's new ambassador."),
]
RUSSIAN = [
    ("ru-1", "Москва первой в мире официально признала власть движения Талибан",
     "МИД России сообщил, что принял верительные грамоты нового посла Исламского Эмирата."),
    # the same state's other step, the same day: a story of its own
    ("ru-2", "Россия исключила талибов из перечня террористических организаций", ""),
]


def rss(outlet: str, items: list[tuple[str, str, str]]) -> bytes:
    stamp = format_datetime(datetime.now(UTC) - timedelta(minutes=30), usegmt=True)
    entries = "".join(f"<item><guid>{guid}</guid><title>{title}</title>"
                      f"<description>{summary}</description>"
                      f"<link>https://{outlet}.example/{guid}</link>"
                      f"<pubDate>{stamp}</pubDate></item>" for guid, title, summary in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{outlet}</title>{entries}</channel></rss>").encode()


def test_a_russian_and_an_english_report_of_one_step_make_one_story(tmp_path: Path) -> None:
    with LoopbackHTTPServer() as http:
        for path, outlet, items in (("/wire.rss", "wire", ENGLISH),
                                    ("/lenta.rss", "lenta", RUSSIAN)):
            http.route(path, Response(body=rss(outlet, items),
                                      headers={"Content-Type": "application/rss+xml"}))
        http.route("/hook", Response(status=204))
        config = tmp_path / "monitor.toml"
        config.write_text(f"""
[monitor]
database = "{tmp_path / 'monitor.db'}"
min_host_interval = "0s"
fetch_articles = "never"

[[topics]]
name = "taliban-recognition"
event = "recognition"
entities = ["Taliban"]

[[sources]]
name = "Wire"
url = "{http.url('/wire.rss')}"

[[sources]]
name = "Lenta"
url = "{http.url('/lenta.rss')}"

[[notifiers]]
name = "hook"
type = "webhook"
url = "{http.url('/hook')}"
""", encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "once"],
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ))
        assert done.returncode == 0, done.stdout + done.stderr
        stories = [story for request in http.requests_to("/hook")
                   for story in json.loads(request.body)["stories"]]

    by_kind = {story["event"]["kind"]: story for story in stories}
    assert len(stories) == 2 and set(by_kind) == {"recognised", "delisted"}, stories
    recognition = by_kind["recognised"]
    assert sorted(recognition["sources"]) == ["Lenta", "Wire"]
    assert recognition["actors"] == ["Russia"]
    # Russia's recognition is in the shipped ledger: whichever report opened the story,
    # it is a follow-up of it
    assert recognition["novelty"] == "follow_up"
    assert recognition["event"]["first_reported"].startswith("2025-07-03")
    delisting = by_kind["delisted"]
    assert delisting["sources"] == ["Lenta"]
    assert delisting["title"].startswith("Россия исключила")
    assert delisting["novelty"] == "follow_up"   # the shipped ledger has it too (2025-04-17)
