"""`monitor run` in a subprocess with its HTTP face on a free loopback port, for the tests
of the status page and the API against a live daemon (and in a real browser).

    with LiveDaemon(tmp_path, config_text, env={"TOKEN_VAR": "t"}) as daemon:
        requests.get(daemon.url("/api/v1/sources"))

The config text gets ``[monitor] database`` and ``[http] listen = "127.0.0.1:0"``
prepended; the daemon's log says which port it took.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from html import escape
from pathlib import Path

from tests.loopback import LoopbackHTTPServer, Response

ROOT = Path(__file__).resolve().parents[1]
_SERVING = re.compile(r"http: serving the status page on (http://127\.0\.0\.1:\d+)/")


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """An RSS feed of (guid, title, description) items linking to https://news.example/."""
    body = "".join(f"<item><guid>{escape(g)}</guid><title>{escape(t)}</title>"
                   f"<link>https://news.example/{escape(g)}</link>"
                   f"<description>{escape(d)}</description></item>" for g, t, d in items)
    return f'<rss version="2.0"><channel><title>Wire</title>{body}</channel></rss>'.encode()


class Feed:
    """An RSS feed served by a LoopbackHTTPServer whose items a test changes between polls."""

    def __init__(self, server: LoopbackHTTPServer, path: str,
                 items: list[tuple[str, str, str]] | None = None) -> None:
        self.items = list(items or [])
        self.url = server.url(path)
        server.route(path, lambda _r: Response(
            body=rss(self.items), headers={"Content-Type": "application/rss+xml"}))


class Hook:
    """A webhook receiver on a LoopbackHTTPServer answering ``status`` (set by the test)."""

    def __init__(self, server: LoopbackHTTPServer, path: str = "/hook") -> None:
        self.status = 204
        self.server = server
        self.path = path
        self.url = server.url(path)
        server.route(path, lambda _r: Response(status=self.status, body=b"no thanks"
                                               if self.status >= 400 else b""))

    def received(self) -> int:
        return len(self.server.requests_to(self.path))


class LiveDaemon:
    def __init__(self, directory: Path, config: str, env: dict[str, str] | None = None,
                 http: str = "") -> None:
        self.directory = directory
        self.log_path = directory / "daemon.log"
        self.config_path = directory / "monitor.toml"
        self.config_path.write_text(
            f'[monitor]\ndatabase = "{directory / "monitor.db"}"\nmin_host_interval = "0s"\n'
            f'\n[http]\nlisten = "127.0.0.1:0"\n{http}\n{config}', encoding="utf-8")
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""

    def __enter__(self) -> LiveDaemon:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in __exit__
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "-c", str(self.config_path), "run"],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT)
        deadline = time.monotonic() + 30
        while not self.base:
            found = _SERVING.search(self.log())
            if found:
                self.base = found.group(1)
            elif self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the daemon did not serve:\n{self.log()}")
            else:
                time.sleep(0.05)
        return self

    def url(self, path: str) -> str:
        return self.base + path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """SIGTERM, as systemd and docker stop it; its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()
