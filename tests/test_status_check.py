"""`monitor status --check`: one line and an exit code for cron and monitoring, on real
SQLite files."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import EmailNotifierConfig
from monitor.health import DEFAULT_ALERT_AFTER, check_limit
from monitor.store import SqliteStore
from monitor.types import Digest, SourceState
from tests.fakes import temp_store

NOW = datetime.now(UTC).replace(microsecond=0)


def write_config(tmp_path: Path, notifiers: str = "") -> Path:
    config = tmp_path / "monitor.toml"
    config.write_text(f"""
[monitor]
database = "{tmp_path / 'm.db'}"

[[topics]]
name = "t"
event = "recognition"

[[sources]]
name = "Wire One"
url = "https://wire.example/rss"

[[sources]]
name = "Gazette"
url = "https://gazette.example/atom"

[[notifiers]]
name = "desk"
type = "file"
path = "{tmp_path / 'digests.log'}"
{notifiers}
""")
    return config


def fill(tmp_path: Path, *states: SourceState) -> SqliteStore:
    """The store of the config above, with both sources polled fine just now, then
    ``states``."""
    store = temp_store(tmp_path, [("Wire One", "https://wire.example/rss"),
                                  ("Gazette", "https://gazette.example/atom")], NOW)
    fine = [SourceState(name, url, first_polled_at=NOW - timedelta(hours=1),
                        last_success_at=NOW, last_new_item_at=NOW - timedelta(hours=1))
            for name, url in (("Wire One", "https://wire.example/rss"),
                              ("Gazette", "https://gazette.example/atom"))]
    store.record_states([*fine, *states])
    return store


def failing(name: str, since: timedelta, gone: bool = False) -> SourceState:
    return SourceState(name, f"https://{name.split()[0].lower()}.example/rss",
                       first_polled_at=NOW - timedelta(days=2), last_fetch_at=NOW,
                       last_success_at=NOW - since, last_status="gone" if gone else "error",
                       last_error="FetchError: HTTP 500 Internal Server Error",
                       last_error_at=NOW, last_error_kind="gone" if gone else "fetch",
                       failing_since=NOW - since, consecutive_failures=9, gone=gone)


def add_dead(store: SqliteStore, notifier: str = "desk") -> None:
    digest = Digest(id=f"d-{notifier}", notifier=notifier, created_at=NOW, stories=(),
                    kind="test", text="hello")
    store.add_delivery(digest, NOW)
    store.mark_dead(digest.id, "HTTP 400 Bad Request", NOW)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


Check = Callable[[Path], Result]


@pytest.fixture()
def check(capsys: pytest.CaptureFixture[str]) -> Check:
    """`monitor -c CONFIG status --check`, in this process."""
    def run(config: Path) -> Result:
        capsys.readouterr()
        code = main(["-q", "-c", str(config), "status", "--check"])
        out, err = capsys.readouterr()
        return Result(code, out, err)
    return run


def run_as_cron_does(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "status",
                           "--check"], capture_output=True, text=True, timeout=60)


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_a_healthy_store_is_ok(tmp_path: Path, check: Check) -> None:
    config = write_config(tmp_path)
    fill(tmp_path, failing("Gazette", timedelta(hours=1))).close()  # not for long yet
    result = check(config)
    assert result.returncode == 0, result.stderr
    assert one_line(result.stdout) == ("ok: 2 sources, 1 failing for less than 6h; "
                                       "no dead delivery")
    assert result.stderr == ""


def test_a_source_failing_past_alert_after_fails_the_check(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    fill(tmp_path, failing("Wire One", timedelta(hours=7))).close()
    result = run_as_cron_does(config)
    assert result.returncode == 3
    line = one_line(result.stderr)
    since = (NOW - timedelta(hours=7)).strftime("%Y-%m-%d %H:%M:%SZ")
    assert line == (f"1 source failing for 6h or more: 'Wire One' since {since} "
                    f"(FetchError: HTTP 500 Internal Server Error)")
    assert result.stdout == ""


def test_the_operators_alert_after_sets_the_limit(tmp_path: Path, check: Check) -> None:
    config = write_config(tmp_path, """
[[notifiers]]
name = "ops"
type = "file"
path = "ops.log"
operator = true
alert_after = "30m"

[[notifiers]]
name = "night-ops"
type = "file"
path = "night.log"
operator = true
alert_after = "12h"
""")
    fill(tmp_path, failing("Gazette", timedelta(hours=1), gone=True)).close()
    result = check(config)
    assert result.returncode == 3
    assert one_line(result.stderr).startswith(
        "1 source failing for 30m or more: 'Gazette' since ")


def test_a_dead_delivery_fails_the_check(tmp_path: Path, check: Check) -> None:
    config = write_config(tmp_path)
    store = fill(tmp_path)
    add_dead(store)
    store.close()
    result = check(config)
    assert result.returncode == 4
    assert one_line(result.stderr) == ("1 dead delivery: desk (HTTP 400 Bad Request); "
                                       "see `monitor deliveries`")


def test_both_at_once(tmp_path: Path, check: Check) -> None:
    config = write_config(tmp_path)
    store = fill(tmp_path, failing("Wire One", timedelta(days=1)),
                 failing("Gazette", timedelta(hours=8)))
    add_dead(store)
    add_dead(store, "gone-notifier")   # a notifier since removed from the config: still dead
    store.close()
    result = check(config)
    assert result.returncode == 5
    line = one_line(result.stderr)
    assert line.startswith("2 sources failing for 6h or more: 'Wire One' since ")
    assert "'Gazette' since " in line
    assert line.endswith("; 2 dead deliveries: desk (HTTP 400 Bad Request), gone-notifier "
                         "(HTTP 400 Bad Request); see `monitor deliveries`")


def test_a_source_no_longer_configured_does_not_count(tmp_path: Path, check: Check) -> None:
    config = write_config(tmp_path)
    fill(tmp_path).close()
    store = temp_store(tmp_path, [("Old feed", "https://old.example/rss")], NOW)
    store.record_states([failing("Old feed", timedelta(days=3))])
    store.close()
    result = check(config)
    assert result.returncode == 0, result.stderr
    assert one_line(result.stdout) == "ok: 2 sources, none failing; no dead delivery"


def test_no_database_yet_is_an_error(tmp_path: Path, check: Check) -> None:
    result = check(write_config(tmp_path))
    assert result.returncode == 1
    assert one_line(result.stderr).startswith("error: no database yet at ")


@pytest.mark.parametrize(("operators", "limit"), [
    ({}, DEFAULT_ALERT_AFTER),
    ({"a": timedelta(hours=2), "b": timedelta(minutes=45)}, timedelta(minutes=45)),
])
def test_the_limit_is_the_first_operator_alert(operators: dict[str, timedelta],
                                               limit: timedelta) -> None:
    assert check_limit(operators) == limit


def test_the_default_limit_is_the_default_alert_after() -> None:
    assert DEFAULT_ALERT_AFTER == EmailNotifierConfig.model_fields["alert_after"].default


def test_many_dead_deliveries_are_counted_and_only_the_oldest_read(
        tmp_path: Path, check: Check, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dead deliveries stay until retried: the check counts them and reads the few it names,
    not every row (nor every frozen digest)."""
    config = write_config(tmp_path)
    store = fill(tmp_path)
    for n in range(12):
        add_dead(store, f"hook-{n:02d}")
    store.close()
    read: list[int] = []
    rows_of = SqliteStore.delivery_rows

    def counted(self: SqliteStore, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        rows = rows_of(self, *args, **kwargs)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(SqliteStore, "delivery_rows", counted)
    result = check(config)
    assert result.returncode == 4
    assert one_line(result.stderr) == (
        "12 dead deliveries: hook-00 (HTTP 400 Bad Request), hook-01 (HTTP 400 Bad Request), "
        "hook-02 (HTTP 400 Bad Request) and 9 more; see `monitor deliveries`")
    assert read == [3]


def check_json(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any],
                                                                          str]:
    capsys.readouterr()
    code = main(["-q", "-c", str(config), "status", "--check", "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_check_with_json_prints_one_object_when_ok(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    fill(tmp_path, failing("Gazette", timedelta(hours=1))).close()
    code, document, err = check_json(config, capsys)
    assert code == 0 and err == ""
    assert document == {"ok": True, "reason": "ok: 2 sources, 1 failing for less than 6h; "
                        "no dead delivery", "failing": [], "dead": 0}


def test_check_with_json_names_what_fails_with_the_same_exit_code(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    store = fill(tmp_path, failing("Wire One", timedelta(days=1)),
                 failing("Gazette", timedelta(hours=1)))
    add_dead(store)
    add_dead(store, "ops")
    store.close()
    code, document, err = check_json(config, capsys)
    assert code == 5 and err == ""
    assert document["ok"] is False
    assert document["reason"].startswith("1 source failing for 6h or more: 'Wire One' since ")
    assert document["dead"] == 2
    assert document["failing"] == [{
        "name": "Wire One",
        "failing_since": (NOW - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        "consecutive_failures": 9, "last_error": "FetchError: HTTP 500 Internal Server Error",
        "last_error_kind": "fetch"}]
