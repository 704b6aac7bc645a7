"""``type = "apprise"``: through the real outbox and CLI to a loopback receiver.

Apprise's ``json://`` and ``form://`` schemes POST to any HTTP address, so a loopback
server stands in for a chat service. The URL path plays the part of a service token: it
must never show in output, logs or recorded errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.loopback import LoopbackHTTPServer, Response
from tests.test_cli import DECOY, STEP, feed, monitor, write_config

pytest.importorskip("apprise", reason="the optional extra news-monitor[apprise] is not installed")

TOKEN = "tok-5e3cr3t-91"
APPRISE_NOTIFIER = """
[[notifiers]]
name = "chat"
type = "apprise"
urls_env = "MONITOR_APPRISE_URLS"
"""


@pytest.fixture
def receiver():
    with LoopbackHTTPServer() as http:
        http.route("/feed.xml", Response(body=feed(STEP, DECOY)))
        yield http


def _env(urls: str) -> dict[str, str]:
    return {**os.environ, "MONITOR_APPRISE_URLS": urls}


def test_digest_reaches_every_apprise_url_through_the_outbox(tmp_path: Path, receiver) -> None:
    receiver.route(f"/json/{TOKEN}", Response(200, b"ok"))
    receiver.route(f"/form/{TOKEN}", Response(200, b"ok"))
    config = write_config(tmp_path, receiver.url("/feed.xml"), APPRISE_NOTIFIER)
    urls = (f"json://127.0.0.1:{receiver.port}/json/{TOKEN}, "
            f"form://127.0.0.1:{receiver.port}/form/{TOKEN}")
    result = monitor("once", "-c", str(config), env=_env(urls))
    assert result.returncode == 0, result.stderr
    assert "notifier chat: 1 digest sent" in result.stdout

    [posted] = receiver.requests_to(f"/json/{TOKEN}")
    payload = json.loads(posted.body)
    assert "Kyrgyzstan accepts the credentials" in payload["title"]
    assert "Kyrgyzstan accepts the credentials" in payload["message"]
    assert "Taliban officials inaugurate" not in payload["message"]
    [form] = receiver.requests_to(f"/form/{TOKEN}")
    fields = parse_qs(form.body.decode())
    assert "Kyrgyzstan" in fields["message"][0]

    # Delivered once: a second run sends nothing more.
    again = monitor("once", "-c", str(config), env=_env(urls))
    assert again.returncode == 0, again.stderr
    assert len(receiver.requests_to(f"/json/{TOKEN}")) == 1


def test_a_refusing_receiver_is_retried_later_and_its_token_never_shown(
        tmp_path: Path, receiver) -> None:
    receiver.route(f"/json/{TOKEN}", Response(503, b"busy"))
    config = write_config(tmp_path, receiver.url("/feed.xml"), APPRISE_NOTIFIER)
    env = _env(f"json://127.0.0.1:{receiver.port}/json/{TOKEN}")
    result = monitor("-v", "once", "-c", str(config), env=env)  # -v: Apprise's debug lines too
    assert result.returncode != 0
    assert "1 failed (will retry)" in result.stdout
    assert len(receiver.requests_to(f"/json/{TOKEN}")) == 1
    assert TOKEN not in result.stdout + result.stderr

    listed = monitor("deliveries", "-c", str(config), env=env)
    assert "failed" in listed.stdout and "chat" in listed.stdout
    assert "apprise chat: Failed to send JSON POST notification" in listed.stdout
    assert TOKEN not in listed.stdout


def test_test_notify_goes_through_apprise(tmp_path: Path, receiver) -> None:
    receiver.route(f"/json/{TOKEN}", Response(200, b"ok"))
    config = write_config(tmp_path, receiver.url("/feed.xml"), APPRISE_NOTIFIER)
    env = _env(f"json://127.0.0.1:{receiver.port}/json/{TOKEN}")
    result = monitor("test-notify", "chat", "-c", str(config), env=env)
    assert result.returncode == 0, result.stderr
    [posted] = receiver.requests_to(f"/json/{TOKEN}")
    payload = json.loads(posted.body)
    assert payload["title"] == "[news-monitor] Test message for chat"
    assert "delivery through this notifier works" in payload["message"]


def test_test_notify_reports_an_unreachable_apprise_url_without_its_token(
        tmp_path: Path, receiver) -> None:
    config = write_config(tmp_path, receiver.url("/feed.xml"), APPRISE_NOTIFIER)
    env = _env(f"json://127.0.0.1:{receiver.port}/nowhere/{TOKEN}")  # 404 from the server
    result = monitor("test-notify", "chat", "-c", str(config), env=env)
    assert result.returncode == 1
    assert "test message through 'chat' failed: apprise chat:" in result.stderr
    assert TOKEN not in result.stderr + result.stdout


def test_config_without_the_extra_says_what_to_install(tmp_path: Path, receiver) -> None:
    config = write_config(tmp_path, receiver.url("/feed.xml"), APPRISE_NOTIFIER)
    code = ("import sys; sys.modules['apprise'] = None\n"
            "from monitor.cli import main\n"
            f"sys.exit(main(['check-config', '-c', {str(config)!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=_env(f"json://127.0.0.1:9/{TOKEN}"))
    assert result.returncode == 2, result.stderr
    assert "notifiers[1]" in result.stderr
    assert "pip install 'news-monitor[apprise]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("urls", "expected"), [
    (None, "notifiers[1].urls_env: environment variable MONITOR_APPRISE_URLS is not set"),
    ("  ", "environment variable MONITOR_APPRISE_URLS is empty"),
    (f"json://127.0.0.1:9/a nosuchservice://{TOKEN}",
     "URL 2 in MONITOR_APPRISE_URLS (nosuchservice://) is not one Apprise can use"),
])
def test_bad_apprise_urls_are_config_errors_that_hide_the_url(
        tmp_path: Path, receiver, urls: str | None, expected: str) -> None:
    config = write_config(tmp_path, receiver.url("/feed.xml"), APPRISE_NOTIFIER)
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_APPRISE_URLS"}
    if urls is not None:
        env["MONITOR_APPRISE_URLS"] = urls
    result = monitor("check-config", "-c", str(config), env=env)
    assert result.returncode == 2
    assert expected in result.stderr
    assert TOKEN not in result.stderr


def test_urls_written_in_the_file_are_refused(tmp_path: Path, receiver) -> None:
    config = write_config(tmp_path, receiver.url("/feed.xml"),
                          APPRISE_NOTIFIER + f'urls = ["json://127.0.0.1:9/{TOKEN}"]\n')
    result = monitor("check-config", "-c", str(config), env=_env("json://127.0.0.1:9/x"))
    assert result.returncode == 2
    assert "notifiers[1].urls: secrets are never written in the config file" in result.stderr


def test_readme_apprise_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    import tomllib

    from monitor.config import AppriseNotifierConfig, load_config_data

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```\n(\[\[notifiers\]\]\n[^`]*?type = \"apprise\".*?)```", readme,
                         re.S)
    monkeypatch.setenv("MONITOR_APPRISE_URLS", "json://127.0.0.1:9/a form://127.0.0.1:9/b")
    data = tomllib.loads('[[topics]]\nname = "t"\nevent = "recognition"\n' + block)
    [notifier] = load_config_data(data).notifiers
    assert isinstance(notifier, AppriseNotifierConfig)
    assert [u.get_secret_value() for u in notifier.urls] == ["json://127.0.0.1:9/a",
                                                             "form://127.0.0.1:9/b"]
    assert "127.0.0.1" not in repr(notifier)
