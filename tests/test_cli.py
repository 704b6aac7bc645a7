"""The command line as users run it: the daemon, the demo, and the inspection commands."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.loopback import LoopbackHTTPServer, Response, wait_for

STEP = ("Kyrgyzstan accepts the credentials of the Taliban's ambassador in Bishkek",
        "The foreign ministry received the envoy appointed by the Islamic Emirate.")
DECOY = ("Taliban officials inaugurate a new hospital wing in Kandahar", "")


def feed(*items: tuple[str, str]) -> bytes:
    stamp = format_datetime(datetime.now(UTC), usegmt=True)
    body = "".join(f"<item><guid>g{i}</guid><title>{t}</title><description>{s}</description>"
                   f"<link>https://news.example/{i}</link><pubDate>{stamp}</pubDate></item>"
                   for i, (t, s) in enumerate(items))
    return f'<rss version="2.0"><channel><title>T</title>{body}</channel></rss>'.encode()


def write_config(tmp_path: Path, feed_url: str, extra: str = "") -> Path:
    config = tmp_path / "monitor.toml"
    config.write_text(f"""
[monitor]
database = "{tmp_path / 'monitor.db'}"
min_host_interval = "0s"
fetch_articles = "never"          # the items link to news.example, which nobody serves

[[topics]]
name = "taliban-recognition"
event = "recognition"

[[sources]]
name = "News"
url = "{feed_url}"

[[notifiers]]
name = "local-file"
type = "file"
path = "{tmp_path / 'digests.log'}"
{extra}
""")
    return config


def monitor(*args: str, stdin: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True,
                          text=True, timeout=120, input=stdin, env=env)


@pytest.fixture(scope="module")
def server():
    with LoopbackHTTPServer() as http:
        http.route("/feed.xml", Response(body=feed(STEP, DECOY)))
        yield http


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_daemon_alerts_then_stops_cleanly(tmp_path: Path, server, signum: int) -> None:
    config = write_config(tmp_path, server.url("/feed.xml"))
    daemon = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        digests = tmp_path / "digests.log"
        wait_for(lambda: digests.exists() and "Kyrgyzstan" in digests.read_text(), timeout=60)
        # A second daemon on the same database is refused.
        second = monitor("run", "-c", str(config))
        assert second.returncode == 1 and "in use by another monitor" in second.stderr
        daemon.send_signal(signum)
        started = time.monotonic()
        _, stderr = daemon.communicate(timeout=30)
        assert daemon.returncode == 0, stderr
        assert time.monotonic() - started < 30
        assert "daemon stopped" in stderr
        assert (f"daemon started with config {config}: 1 source, 1 topic, 1 notifier; "
                "first polls: 1 due now") in stderr
    finally:
        if daemon.poll() is None:
            daemon.kill()
    text = digests.read_text()
    assert "hospital" not in text and text.count("delivery id") == 1


def test_inspection_commands(tmp_path: Path, server) -> None:
    config = write_config(tmp_path, server.url("/feed.xml"))
    assert monitor("status", "-c", str(config)).returncode == 1  # no database yet: says so
    once = monitor("once", "-c", str(config))
    assert once.returncode == 0, once.stderr
    assert "1 matched" in once.stdout and "local-file: 1 digest sent" in once.stdout

    matches = monitor("matches", "--since", "1d", "-c", str(config))
    assert matches.returncode == 0
    assert "[recognition_step] Kyrgyzstan" in matches.stdout and "hospital" not in matches.stdout

    status = monitor("status", "-c", str(config))
    assert status.returncode == 0 and "News" in status.stdout and " ok " in status.stdout

    deliveries = monitor("deliveries", "-c", str(config))
    assert "no pending, failed or dead deliveries" in deliveries.stdout
    assert monitor("deliveries", "--retry", "nope", "-c", str(config)).returncode == 1

    test = monitor("test-notify", "local-file", "-c", str(config))
    assert test.returncode == 0 and "test message" in (tmp_path / "digests.log").read_text()
    assert monitor("test-notify", "nobody", "-c", str(config)).returncode == 2

    bad = monitor("matches", "--since", "soon", "-c", str(config))
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_classify_explains_and_reads_jsonl(tmp_path: Path) -> None:
    env = {**os.environ, "MONITOR_CONFIG": ""}
    explained = monitor("classify", STEP[0], env=env)
    assert explained.returncode == 0
    assert "match:    yes" in explained.stdout and "recognition_step" in explained.stdout
    assert "Kyrgyzstan" in explained.stdout
    from_stdin = monitor("classify", stdin=DECOY[0], env=env)
    assert "match:    no" in from_stdin.stdout
    assert "why not:  entity without event:" in from_stdin.stdout
    other_sense = monitor("classify", "Kabul chef honoured in recognition of her recipes",
                          env=env)
    assert 'why not:  other sense of "recognition": "honoured in recognition"' in (
        other_sense.stdout)
    negated = monitor("classify", "Ruritania will not recognise the Taliban government", env=env)
    assert 'why:      negated: "not" near the event' in negated.stdout

    records = tmp_path / "records.jsonl"
    records.write_text(json.dumps({"id": "a", "title": STEP[0], "summary": STEP[1]}) + "\n"
                       + json.dumps({"id": "b", "title": DECOY[0], "summary": ""}) + "\n")
    out = monitor("classify", "--jsonl", str(records), env=env)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["id"], r["match"]) for r in lines] == [("a", True), ("b", False)]
    assert set(lines[0]) == {"id", "match", "topic", "score", "category"}
    assert lines[1]["reason"].startswith("entity without event:")
    assert lines[0]["category"] == "recognition_step"


def test_demo_shows_alerts(tmp_path: Path) -> None:
    demo = monitor("demo", "--data-dir", str(tmp_path / "demo"))
    assert demo.returncode == 0, demo.stderr
    assert "alerts written to" in demo.stdout
    digest = (tmp_path / "demo" / "digests.log").read_text()
    assert "recognition_" in digest
    assert "Example Gazette" in digest and "Demo Wire" in digest
    # the sources are polled at once: either outlet's report may open the Uzbek story
    assert re.search(r"Lead:      (Tashkent has recognised|Uzbekistan's foreign ministry said)",
                     digest)
    assert "utm_" not in digest          # the sample feed's link carries utm_source
    rejected = demo.stdout.split("--- not alerted:", 1)[1]
    assert ("- Demo Wire: City council votes to ban live facial recognition cameras\n"
            "    why not: no entity:") in rejected
    assert ("Kabul museum curator honoured in recognition of work to save its collection "
            "(keyword alert)\n    why not: other sense of \"recognition\"") in rejected
    assert "Uzbekistan" not in rejected and "Norway" not in rejected


def test_every_command_has_help() -> None:
    for command in ("run", "once", "check-config", "status", "matches", "classify", "eval",
                    "test-notify", "deliveries", "demo"):
        result = monitor(command, "--help")
        assert result.returncode == 0 and "--config" in result.stdout, command


def test_secrets_never_shown(tmp_path: Path, server) -> None:
    """A failing SMTP login and webhook: the password and the secret appear nowhere."""
    password, secret = "pa55-Very-Secret-word", "hook-Very-Secret-key"
    with socket_closed_port() as port:
        config = write_config(tmp_path, server.url("/feed.xml"), extra=f"""
[[notifiers]]
name = "mail"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {port}
security = "none"
username = "monitor"
password_env = "NM_TEST_PASSWORD"
from = "monitor@example.org"
to = ["desk@example.org"]

[[notifiers]]
name = "hook"
type = "webhook"
url = "{server.url('/no-such-hook')}"
secret_env = "NM_TEST_SECRET"
""")
        env = {**os.environ, "NM_TEST_PASSWORD": password, "NM_TEST_SECRET": secret}
        outputs = [monitor("once", "-v", "-c", str(config), env=env)]
        assert outputs[0].returncode == 4  # deliveries failed: cron sees it
        outputs += [monitor(cmd, "-c", str(config), env=env)
                    for cmd in ("status", "deliveries", "check-config")]
    seen = "".join(o.stdout + o.stderr for o in outputs)
    assert "mail" in seen and "hook" in seen and "404" in seen
    database = b"".join(p.read_bytes() for p in tmp_path.glob("monitor.db*"))
    for needle in (password, secret):
        assert needle not in seen
        assert needle.encode() not in database


class socket_closed_port:  # noqa: N801 - used as a context manager
    """A loopback port with nothing listening on it."""

    def __enter__(self) -> int:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        return self._socket.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self._socket.close()


# -- the database's place and state: one clear line, never a traceback or a false "ok" -------

def read_only(folder: Path) -> list[str]:
    """A command prefix that runs its command with `folder` read-only: a read-only bind
    mount in private user and mount namespaces (EROFS, as on a read-only disk). chmod would
    not do: root writes anyway, and CI runs as root. Skips where namespaces are refused."""
    prefix = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
              'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"',
              str(folder)]
    probe = subprocess.run([*prefix, "sh", "-c", f'! touch "{folder}/probe"'],
                           capture_output=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("no user and mount namespaces here to make a read-only mount")
    return prefix


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one line a failed command printed (run with -q: no log lines)."""
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("command", ["once", "run", "status"])
def test_a_read_only_database_folder_is_one_clear_line(tmp_path: Path, server,
                                                       command: str) -> None:
    """`OSError: [Errno 30] Read-only file system: '...monitor.db.lock'`
    came out as a traceback."""
    config = write_config(tmp_path, server.url("/feed.xml"))
    assert monitor("once", "-q", "-c", str(config)).returncode == 0
    result = subprocess.run([*read_only(tmp_path), sys.executable, "-m", "monitor", command,
                             "-q", "-c", str(config)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    line = error_line(result)
    assert line.startswith(f"error: cannot open database {tmp_path / 'monitor.db'}" if
                           command == "status" else f"error: database {tmp_path / 'monitor.db'}")
    assert ("Read-only file system" if command != "status" else "is not writable") in line


def test_a_database_under_a_file_is_one_clear_line(tmp_path: Path, server) -> None:
    """The same failure where no read-only mount can be made: a file where the database's
    folder should be (ENOTDIR / EEXIST from the lowest level, as root too)."""
    config = write_config(tmp_path, server.url("/feed.xml"))
    (tmp_path / "data").write_text("a file, not a folder")
    config.write_text(config.read_text().replace(str(tmp_path / "monitor.db"),
                                                 str(tmp_path / "data" / "monitor.db")))
    for command in ("once", "run"):
        result = monitor(command, "-q", "-c", str(config))
        assert result.returncode == 1
        assert error_line(result) == (f"error: database {tmp_path / 'data' / 'monitor.db'}: "
                                      f"{tmp_path / 'data'} is not a folder")


def test_status_on_a_database_damaged_mid_file_says_it_cannot_read_the_state(
        tmp_path: Path, server) -> None:
    """With garbage in the middle of the file `once` failed, but `status`
    read its few intact pages and said "ok" and "nothing pending"."""
    items = [(f"Harbour works, part {n}: the port authority publishes its weekly notice",
              "Cranes, berths and tide tables for the coming week. " * 8) for n in range(400)]
    server.route("/many.xml", Response(body=feed(*items)))
    config = write_config(tmp_path, server.url("/many.xml"))
    assert monitor("once", "-q", "-c", str(config)).returncode == 0
    healthy = monitor("status", "-c", str(config))
    assert healthy.returncode == 0 and " ok " in healthy.stdout

    database = tmp_path / "monitor.db"
    with sqlite3.connect(database) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.close()
    assert pages > 50 and not (tmp_path / "monitor.db-wal").exists()
    with open(database, "r+b") as handle:                  # garbage over a middle page
        handle.seek(pages // 2 * page_size)
        handle.write(random.Random(9).randbytes(page_size))

    status = monitor("status", "-q", "-c", str(config))
    assert status.returncode == 1 and " ok " not in status.stdout
    assert error_line(status).startswith(
        f"error: cannot read the state: database {database} is damaged (")
    check = monitor("db", "check", "-q", "-c", str(config))
    assert check.returncode == 1, check.stderr
    assert f"problem: cannot read the state: database {database} is damaged (" in check.stdout
    assert check.stdout.splitlines()[-1].startswith("FAILED: ")
    copy = monitor("db", "copy", "--from", str(database), "--to",
                   "postgresql://nobody@127.0.0.1:9/none", "-q", "-c", str(config))
    assert copy.returncode == 1
    assert error_line(copy).startswith(f"error: database {database} is not copied: cannot read")
