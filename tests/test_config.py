"""Config: TOML into frozen objects; every mistake refused with its key path and exit 2."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import load_config, load_config_data, parse_duration
from monitor.errors import ConfigError

README = Path(__file__).resolve().parents[1] / "README.md"

MINIMAL = {"topics": [{"name": "t", "event": "recognition", "entities": ["Taliban"]}]}


def refused(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_config_data(data)
    return str(info.value)


@pytest.mark.parametrize("text, seconds", [
    ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (" 5M ", 300),
])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "m", "5x", "-5m", "0s", "1.5h", "15 minutes"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_valid_config_is_frozen() -> None:
    config = load_config_data({**MINIMAL, "sources": [
        {"name": "a", "url": "https://example.org/rss", "interval": "10m"}]})
    assert config.sources[0].interval == timedelta(minutes=10)
    assert config.interval(config.sources[0]) == timedelta(minutes=10)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error
        config.sources[0].url = "https://other.example/"  # type: ignore[misc]


@pytest.mark.parametrize("data, message", [
    ({**MINIMAL, "sources": [{"name": "a", "url": "https://x.org/"},
                             {"name": "b", "url": "https://x.org/", "interval": "10q"}]},
     "sources[1].interval: invalid duration '10q'"),
    ({**MINIMAL, "sources": [{"name": "a", "url": "ftp://x.org/"}]},
     "sources[0].url: invalid URL 'ftp://x.org/'"),
    ({**MINIMAL, "sources": [{"name": "a", "url": "https://x.org/", "intervall": "5m"}]},
     "sources[0].intervall: unknown key"),
    ({**MINIMAL, "sources": [{"url": "https://x.org/"}]}, "sources[0].name: required key"),
    ({**MINIMAL, "sources": [{"name": "a", "url": "https://x.org/", "type": "html"}]},
     "sources[0].type:"),
    ({**MINIMAL, "sources": [{"name": "a", "url": "https://x.org/", "type": "page"}]},
     "a page source needs item_selector"),
    ({**MINIMAL, "sources": [{"name": "a", "url": "https://x.org/"},
                             {"name": "a", "url": "https://y.org/"}]},
     "sources[1].name: duplicate name 'a' (also sources[0])"),
    ({**MINIMAL, "monitor": {"max_concurrency": 0}}, "monitor.max_concurrency:"),
    ({**MINIMAL, "monitor": {"poll_interval": "soon"}}, "monitor.poll_interval:"),
    ({**MINIMAL, "notifiers": [{"name": "n", "type": "file", "path": "x", "topics": ["nope"]}]},
     "notifiers[0].topics: unknown topic 'nope'"),
    ({**MINIMAL, "notifiers": [{"name": "n", "type": "pager"}]},
     "notifiers[0].type: must be one of email, webhook, file"),
    ({**MINIMAL, "notifiers": [{"name": "n", "type": "file", "path": "x",
                                "schedule": "hourly"}]}, "notifiers[0].schedule: invalid"),
    ({**MINIMAL, "notifiers": [{"name": "n", "type": "file", "path": "x",
                                "schedule": "61 * * * *"}]}, "notifiers[0].schedule: invalid"),
    ({**MINIMAL, "notifiers": [{"name": "w", "type": "webhook", "url": "https://h.org/",
                                "format": "teams"}]}, "notifiers[0].format:"),
    ({**MINIMAL, "notifiers": [{"name": "e", "type": "email", "smtp_host": "h",
                                "from": "a@b.org"}]}, "notifiers[0].to: required key"),
    ({**MINIMAL, "notifiers": [{"name": "n", "type": "file", "path": "x",
                                "timezone": "Europe/Pariss"}]},
     "notifiers[0].timezone: unknown time zone 'Europe/Pariss'"),
    ({**MINIMAL, "notifiers": [{"name": "n", "type": "file", "path": "x",
                                "timezone": "../../etc/passwd"}]},
     "notifiers[0].timezone: unknown time zone"),
    ({"topics": []}, "topics:"),
    ({"topics": [{"name": "q", "query": "(a OR"}]}, "topics[0].query:"),
])
def test_config_errors_name_the_key(data: dict, message: str) -> None:
    assert message in refused(data)


def test_missing_secret_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NM_TEST_HOOK_SECRET", raising=False)
    notifier = {"name": "w", "type": "webhook", "url": "https://h.org/",
                "secret_env": "NM_TEST_HOOK_SECRET"}
    assert ("notifiers[0].secret_env: environment variable NM_TEST_HOOK_SECRET is not set"
            in refused({**MINIMAL, "notifiers": [notifier]}))
    monkeypatch.setenv("NM_TEST_HOOK_SECRET", "hunter2")
    config = load_config_data({**MINIMAL, "notifiers": [notifier]})
    assert config.notifiers[0].secret.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(config)


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[monitor\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_cli_exit_codes(tmp_path: Path) -> None:
    def check(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "monitor", "check-config", "-c", str(path)],
                              capture_output=True, text=True, timeout=60)

    missing = check(tmp_path / "absent.toml")
    assert missing.returncode == 2 and "not found" in missing.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[[topics]]\nname = "t"\nevent = "recognition"\n'
                   '[[sources]]\nname = "s"\nurl = "https://x.org/"\ninterval = "often"\n')
    result = check(bad)
    assert result.returncode == 2
    assert "sources[0].interval: invalid duration 'often'" in result.stderr
    good = tmp_path / "good.toml"
    good.write_text('[[topics]]\nname = "t"\nevent = "recognition"\n')
    ok = check(good)
    assert ok.returncode == 0 and "is valid" in ok.stdout


def test_readme_config_examples_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Docs that run: every TOML block in the README is a valid config."""
    import tomllib

    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README shows a config example"
    for block in blocks:
        for name in re.findall(r'_env = "([A-Z_]+)"', block):
            monkeypatch.setenv(name, "example-secret")
        config = load_config_data(tomllib.loads(block))
        assert config.topics


@pytest.mark.parametrize("notifier, key", [
    ({"name": "w", "type": "webhook", "url": "https://h.org/", "secret": "in-the-file"},
     "secret"),
    ({"name": "e", "type": "email", "smtp_host": "h", "from": "a@b.org", "to": ["x@y.org"],
      "password": "in-the-file"}, "password"),
])
def test_secrets_in_the_file_are_refused(notifier: dict, key: str) -> None:
    message = refused({**MINIMAL, "notifiers": [notifier]})
    assert f"notifiers[0].{key}: secrets are never written in the config file" in message
    assert "in-the-file" not in message


def test_a_notifier_time_zone_defaults_to_utc() -> None:
    config = load_config_data({**MINIMAL, "notifiers": [
        {"name": "a", "type": "file", "path": "x"},
        {"name": "b", "type": "file", "path": "y", "timezone": "Asia/Kabul"}]})
    assert [n.zone.key for n in config.notifiers] == ["UTC", "Asia/Kabul"]


def test_the_database_is_a_sqlite_file_or_a_postgres_url(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def database(**monitor: str) -> str:
        return load_config_data({**MINIMAL, "monitor": monitor}).monitor.database

    assert database() == "data/monitor.db"
    assert database(database="postgresql://monitor@db.example.org/monitor") == \
        "postgresql://monitor@db.example.org/monitor"
    for written in ("postgresql://monitor:hunter2@db.example.org/monitor",
                    "postgres://db.example.org/monitor?user=m&password=hunter2"):
        message = refused({**MINIMAL, "monitor": {"database": written}})
        assert message.startswith("monitor.database: secrets are never written in the "
                                  "config file; put the URL in an environment variable and "
                                  "name it in database_env")
        assert "hunter2" not in message
    assert refused({**MINIMAL, "monitor": {"database": "mysql://u:hunter2@db/m"}}) == (
        "monitor.database: 'mysql://***@db/m' is neither a SQLite file nor a postgresql:// URL")

    monkeypatch.delenv("NM_TEST_DATABASE", raising=False)
    assert refused({**MINIMAL, "monitor": {"database_env": "NM_TEST_DATABASE"}}) == (
        "monitor.database_env: environment variable NM_TEST_DATABASE is not set")
    monkeypatch.setenv("NM_TEST_DATABASE", "postgresql://monitor:hunter2@db/monitor")
    config = load_config_data({**MINIMAL, "monitor": {"database_env": "NM_TEST_DATABASE"}})
    assert config.monitor.database == "postgresql://monitor:hunter2@db/monitor"
    assert "hunter2" not in repr(config)
    assert refused({**MINIMAL, "monitor": {"database_env": "NM_TEST_DATABASE",
                                           "database": "data/monitor.db"}}) == (
        "monitor: set database or database_env, not both")
