"""A local world for crash tests: RSS feeds, an SMTP sink, a webhook receiver, the daemon.

Everything listens on 127.0.0.1. Used by tests/test_crash.py (short) and
benchmarks/crash.py (long):

    with FeedFarm(feeds=3) as farm, SmtpSink() as smtp, WebhookSink() as hook:
        farm.publish(story_titles(2)[0], feeds=(0,))
        write_config(cfg, db=..., feeds=farm.urls(), smtp_port=smtp.port, hook_url=hook.url)
        daemon = DaemonProcess(cfg, log_path)
        daemon.start(); ...; daemon.kill()
        tally(expected, smtp.received)   # -> Tally: delivered, repeated, lost

Stories are our own sentences, one acting state each (states never group), in three
wordings of different categories, so every title is a distinct story.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import IO, Any

from aiosmtpd.controller import Controller

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.loopback import LoopbackHTTPServer, RecordedRequest, Response  # noqa: E402

# States the bundled gazetteer knows (so each story has exactly one actor), Afghanistan aside.
STATES = (
    "Algeria", "Argentina", "Armenia", "Australia", "Austria", "Azerbaijan", "Bahrain",
    "Bangladesh", "Belarus", "Belgium", "Brazil", "Canada", "China", "Denmark", "Egypt",
    "Finland", "France", "Germany", "India", "Indonesia", "Iran", "Iraq", "Israel", "Italy",
    "Japan", "Jordan", "Kazakhstan", "Kuwait", "Kyrgyzstan", "Malaysia", "Netherlands",
    "Norway", "Oman", "Pakistan", "Qatar", "Russia", "Saudi Arabia", "South Korea",
    "North Korea", "Spain", "Sweden", "Switzerland", "Syria", "Tajikistan", "Turkey",
    "Turkmenistan", "Ukraine", "United Arab Emirates", "United Kingdom", "United States",
    "Uzbekistan", "Venezuela",
)
WORDINGS = (
    "{state} accepts the credentials of the Taliban's ambassador",
    "{state} formally recognises the Taliban government",
    "{state} says it will not recognise the Taliban administration for now",
)
DECOYS = (
    "Taliban announce new rules for provincial markets",
    "Phone makers improve facial recognition in low light",
)


def story_titles(count: int) -> list[str]:
    """PURE: ``count`` distinct recognition headlines (at most len(STATES) * len(WORDINGS))."""
    titles = [w.format(state=s) for w in WORDINGS for s in STATES]
    if count > len(titles):
        raise ValueError(f"at most {len(titles)} distinct stories, asked for {count}")
    return titles[:count]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Received:
    """One message a sink accepted: its delivery id and the story titles it carried."""

    delivery_id: str
    titles: tuple[str, ...]
    at: float                     # time.monotonic() when accepted


@dataclass(frozen=True)
class Refused:
    """One attempt a sink refused (status, its delivery id, when)."""

    delivery_id: str
    status: int
    at: float


def _quiet(server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """Drop socketserver's traceback when a killed daemon resets a connection."""
    server._server.handle_error = lambda *_args: None  # type: ignore[method-assign]
    return server


# -- feeds ------------------------------------------------------------------


@dataclass
class _Item:
    guid: str
    title: str
    summary: str
    published: datetime


class FeedFarm:
    """``feeds`` RSS feeds on one loopback server; ``publish`` adds an item to some of them."""

    def __init__(self, feeds: int = 3) -> None:
        self.count = feeds
        self._items: list[list[_Item]] = [[] for _ in range(feeds)]
        self._served: list[set[str]] = [set() for _ in range(feeds)]
        self._lock = threading.Lock()
        self.fetch_delay = 0.0         # seconds each feed response waits (widens fetch window)
        self.serve_last = 0            # > 0: each feed lists only its newest this many items
        self.fresh_responses = 0       # responses that carried an item never served before
        self.in_flight = 0
        self.requests = 0
        self._serial = 0
        self.server = _quiet(LoopbackHTTPServer())
        for index in range(feeds):
            self.server.route(f"/feed-{index}.rss",
                              lambda request, index=index: self._serve(index, request))

    def urls(self) -> list[str]:
        return [self.server.url(f"/feed-{i}.rss") for i in range(self.count)]

    def publish(self, title: str, feeds: Sequence[int] = (0,), summary: str = "") -> None:
        """Put one story on the given feeds (a story on two feeds is one story, two outlets)."""
        now = datetime.now(UTC)
        with self._lock:
            for index in feeds:
                self._serial += 1
                self._items[index].append(_Item(f"farm-{index}-{self._serial}", title,
                                                summary, now))

    def _serve(self, index: int, _request: RecordedRequest) -> Response:
        with self._lock:
            self.in_flight += 1
            self.requests += 1
            delay = self.fetch_delay
            last = self.serve_last
        try:
            if delay:
                time.sleep(delay)
            with self._lock:
                items = list(self._items[index][-last:] if last else self._items[index])
                guids = {i.guid for i in items}
                if guids - self._served[index]:
                    self.fresh_responses += 1
                    self._served[index] |= guids
            return Response(body=rss(f"Farm wire {index}", f"https://wire{index}.example/",
                                     items),
                            headers={"Content-Type": "application/rss+xml"})
        finally:
            with self._lock:
                self.in_flight -= 1

    def __enter__(self) -> FeedFarm:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


def rss(title: str, link: str, items: Sequence[_Item]) -> bytes:
    """PURE: an RSS 2.0 document for the items."""
    entries = "".join(
        f"<item><guid isPermaLink=\"false\">{escape(i.guid)}</guid>"
        f"<title>{escape(i.title)}</title><link>{escape(link)}{escape(i.guid)}</link>"
        f"<description>{escape(i.summary)}</description>"
        f"<pubDate>{format_datetime(i.published, usegmt=True)}</pubDate></item>"
        for i in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{escape(link)}</link>{entries}"
            f"</channel></rss>").encode()


# -- receivers ----------------------------------------------------------------

_TITLE_LINE = re.compile(r"^\d+\. (.+)$", re.MULTILINE)


def email_titles(text: str) -> tuple[str, ...]:
    """PURE: the story titles of a plain-text digest ("1. Title" lines)."""
    return tuple(m.group(1).strip() for m in _TITLE_LINE.finditer(text))


class _SlowPolicy:
    """A delay drawn per message from [low, high) seconds; thread-safe."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.low = 0.0
        self.high = 0.0

    def draw(self) -> float:
        with self._lock:
            return self._rng.uniform(self.low, self.high) if self.high > 0 else 0.0


class SmtpSink:
    """An aiosmtpd server on a fixed loopback port that can go down and come back."""

    def __init__(self, seed: int = 1) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.slow = _SlowPolicy(seed)
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.in_flight += 1
        try:
            delay = self.slow.draw()
            if delay:
                await asyncio.sleep(delay)
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            body = message.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            delivery = str(message.get("X-Monitor-Delivery", ""))
            message_id = str(message.get("Message-ID", ""))
            if delivery and delivery not in message_id:
                delivery = f"{delivery} (Message-ID {message_id} differs)"
            with self.lock:
                self.received.append(Received(delivery, email_titles(text), time.monotonic()))
            return "250 OK"
        finally:
            with self.lock:
                self.in_flight -= 1

    @property
    def up(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WebhookSink:
    """A JSON webhook receiver; can refuse with a status (and Retry-After) for a while."""

    def __init__(self, seed: int = 2) -> None:
        self.server = _quiet(LoopbackHTTPServer())
        self.server.route("/hook", self._serve)
        self.received: list[Received] = []
        self.refused: list[Refused] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.slow = _SlowPolicy(seed)
        self._fail_status = 0
        self._fail_until = 0.0
        self._fail_count = 0
        self._retry_after: str | None = None

    @property
    def url(self) -> str:
        return self.server.url("/hook")

    def fail(self, status: int, *, seconds: float = 0.0, count: int = 0,
             retry_after: int | None = None) -> None:
        """Answer ``status`` for the next ``seconds`` and/or the next ``count`` requests."""
        with self.lock:
            self._fail_status = status
            self._fail_until = time.monotonic() + seconds
            self._fail_count = count
            self._retry_after = None if retry_after is None else str(retry_after)

    def _serve(self, request: RecordedRequest) -> Response:
        with self.lock:
            self.in_flight += 1
        try:
            delay = self.slow.draw()
            if delay:
                time.sleep(delay)
            delivery = request.headers.get("X-Monitor-Delivery", "")
            with self.lock:
                now = time.monotonic()
                if self._fail_count > 0 or now < self._fail_until:
                    self._fail_count = max(0, self._fail_count - 1)
                    self.refused.append(Refused(delivery, self._fail_status, now))
                    headers = {"Retry-After": self._retry_after} if self._retry_after else {}
                    return Response(self._fail_status, b"not now", headers)
                payload = json.loads(request.body)
                if payload.get("id") != delivery:
                    delivery = f"{delivery} (body id {payload.get('id')} differs)"
                titles = tuple(s["title"] for s in payload.get("stories", ()))
                self.received.append(Received(delivery, titles, now))
            return Response(200, b"ok")
        finally:
            with self.lock:
                self.in_flight -= 1

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def __enter__(self) -> WebhookSink:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


# -- the daemon ---------------------------------------------------------------


def write_config(path: Path, *, database: Path, feeds: Sequence[str], smtp_port: int,
                 hook_url: str, interval: str = "2s") -> None:
    """A config with every farm feed, one immediate email and one immediate JSON webhook."""
    sources = "".join(f'\n[[sources]]\nname = "Farm wire {i}"\nurl = "{url}"\n'
                      f'interval = "{interval}"\n' for i, url in enumerate(feeds))
    path.write_text(f"""
[monitor]
database = "{database}"
min_host_interval = "0s"
max_per_host = 8

[[topics]]
name = "taliban-recognition"
event = "recognition"
entities = ["Taliban", "Islamic Emirate of Afghanistan"]
{sources}
[[notifiers]]
name = "desk-email"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
security = "none"
from = "monitor@example.org"
to = ["desk@example.org"]
schedule = "immediate"
timeout = "10s"

[[notifiers]]
name = "ops-webhook"
type = "webhook"
url = "{hook_url}"
schedule = "immediate"
timeout = "10s"
""", encoding="utf-8")


@dataclass
class DaemonProcess:
    """`monitor run` as a child process; its log goes to ``log_path`` (appended)."""

    config: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        if self.process is not None:
            raise RuntimeError("daemon already running")
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap
        self._log.write(f"\n=== start {self.starts + 1} ===\n".encode())
        self._log.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(self.config)],
            cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> int:
        """SIGKILL; returns the exit status (-9 unless it had already exited)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        return self._reap(10.0)

    def terminate(self, timeout: float = 15.0) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds it took). Raises TimeoutError on a hang."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self._reap(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(f"daemon ignored SIGTERM for {timeout:g}s") from None
        return status, time.monotonic() - started

    def _reap(self, timeout: float) -> int:
        assert self.process is not None
        status = self.process.wait(timeout)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return status

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""


# -- the database, read from outside ------------------------------------------


def _connect(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{database}?mode=rw", uri=True, timeout=30)


def integrity(database: Path) -> str:
    """``PRAGMA integrity_check`` of the database ("ok" when sound), or the error opening it."""
    try:
        db = _connect(database)
    except sqlite3.Error as exc:
        return f"cannot open: {exc}"
    try:
        rows = db.execute("PRAGMA integrity_check").fetchall()
        db.execute("SELECT COUNT(*) FROM deliveries").fetchone()
        return "; ".join(str(r[0]) for r in rows)
    except sqlite3.Error as exc:
        return f"error: {exc}"
    finally:
        db.close()


def delivery_counts(database: Path) -> dict[str, int]:
    """Deliveries by status, plus "unassigned": outbox rows not yet in any digest."""
    if not database.exists():
        return {}
    db = _connect(database)
    try:
        counts = {str(status): int(n) for status, n in db.execute(
            "SELECT status, COUNT(*) FROM deliveries GROUP BY status")}
        counts["unassigned"] = int(db.execute(
            "SELECT COUNT(*) FROM outbox WHERE delivery_id IS NULL").fetchone()[0])
        return counts
    except sqlite3.OperationalError:  # not created yet
        return {}
    finally:
        db.close()


def settled(database: Path) -> bool:
    """Nothing left to send: every outbox row is in a digest and every digest is final."""
    counts = delivery_counts(database)
    return bool(counts) and not any(counts.get(s, 0) for s in
                                    ("pending", "sending", "failed", "unassigned"))


# -- counting -----------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """What one notifier received against what was expected."""

    expected: int
    delivered: int           # expected stories received at least once
    repeated: int            # extra copies of a story already received
    lost: int                # expected stories never received
    outside_window: int      # extra copies under another delivery id than the first copy
    unexpected: int          # titles received that were never published
    messages: int


def tally(expected: Sequence[str], received: Sequence[Received]) -> Tally:
    """PURE: compare received messages with the expected story titles."""
    first_id: dict[str, str] = {}
    repeated = outside = unexpected = 0
    wanted = set(expected)
    for message in received:
        for title in message.titles:
            if title not in wanted:
                unexpected += 1
            elif title not in first_id:
                first_id[title] = message.delivery_id
            else:
                repeated += 1
                if message.delivery_id != first_id[title]:
                    outside += 1
    return Tally(expected=len(wanted), delivered=len(first_id), repeated=repeated,
                 lost=len(wanted) - len(first_id), outside_window=outside,
                 unexpected=unexpected, messages=len(received))


def all_received(expected: Sequence[str], *sinks: SmtpSink | WebhookSink) -> bool:
    """Every expected title reached every sink at least once."""
    wanted = set(expected)
    for sink in sinks:
        got = {t for m in sink.snapshot() for t in m.titles}
        if not wanted <= got:
            return False
    return True


def wait_until(condition: Any, timeout: float, interval: float = 0.05) -> bool:
    """Wait for condition() with a deadline; True if it came true (no exception)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def iter_titles(received: Sequence[Received]) -> Iterator[str]:
    for message in received:
        yield from message.titles
