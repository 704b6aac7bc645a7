"""The container's HEALTHCHECK (`python -m monitor.healthcheck`) against a /healthz on
loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import config as monitor_config
from monitor import healthcheck
from monitor.healthcheck import healthz_url, probe
from tests.loopback import LoopbackHTTPServer, Response


@pytest.fixture()
def server():
    with LoopbackHTTPServer() as http:
        yield http


def config_file(tmp_path: Path, http: str | None) -> Path:
    path = tmp_path / "monitor.toml"
    table = f"\n[http]\n{http}\n" if http is not None else ""
    path.write_text(f'[monitor]\ndatabase = "{tmp_path / "m.db"}"\n{table}')
    return path


def test_a_healthy_daemon_passes(tmp_path: Path, server) -> None:
    server.route("/healthz", Response(200, b"ok: last tick 1s ago"))
    config = config_file(tmp_path, f'listen = "127.0.0.1:{server.port}"')
    assert probe(str(config), {}) == (0, "ok: ok: last tick 1s ago")


def test_a_stuck_daemon_fails_with_its_reason(tmp_path: Path, server) -> None:
    server.route("/healthz", Response(503, b"scheduler has not ticked for 95s"))
    config = config_file(tmp_path, f'listen = "127.0.0.1:{server.port}"')
    assert probe(str(config), {}) == (
        1, f"http://127.0.0.1:{server.port}/healthz: HTTP 503: scheduler has not ticked "
           f"for 95s")


def test_nothing_listening_fails(tmp_path: Path) -> None:
    with socket.socket() as probe_socket:        # a port nobody listens on
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    config = config_file(tmp_path, f'listen = "127.0.0.1:{port}"')
    code, line = probe(str(config), {}, timeout=2)
    assert code == 1 and line.startswith(f"http://127.0.0.1:{port}/healthz: ")


def test_without_http_there_is_nothing_to_check(tmp_path: Path) -> None:
    assert probe(str(config_file(tmp_path, None)), {})[0] == 0


def test_an_unreadable_config_fails(tmp_path: Path) -> None:
    code, line = probe(str(tmp_path / "absent.toml"), {})
    assert code == 1 and line.startswith("cannot read the config ")


def test_the_token_is_sent_and_no_proxy_is_used(tmp_path: Path, server) -> None:
    server.route("/healthz", Response(200, b"ok"))
    config = config_file(tmp_path, f'listen = "0.0.0.0:{server.port}"\n'
                                   f'token_env = "HC_TOKEN"')
    env = {**os.environ, "MONITOR_CONFIG": str(config), "HC_TOKEN": "s3cret",
           "http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-m", "monitor.healthcheck"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    [request] = server.requests_to("/healthz")
    assert request.headers["Authorization"] == "Bearer s3cret"


@pytest.mark.parametrize(("listen", "url"), [
    ("127.0.0.1:8080", "http://127.0.0.1:8080/healthz"),
    ("0.0.0.0:9000", "http://127.0.0.1:9000/healthz"),
    (":8080", "http://127.0.0.1:8080/healthz"),
    ("[::]:8080", "http://[::1]:8080/healthz"),
    ("[::1]:8080", "http://[::1]:8080/healthz"),
    ("10.0.0.5:8080", "http://10.0.0.5:8080/healthz"),
])
def test_the_listen_address_gives_the_url(listen: str, url: str) -> None:
    assert healthz_url(listen) == url


def test_it_finds_the_config_where_the_commands_do() -> None:
    assert healthcheck.CONFIG_ENV == monitor_config.CONFIG_ENV
    assert healthcheck.DEFAULT_CONFIG_PATH == monitor_config.DEFAULT_CONFIG_PATH


ROOT = Path(__file__).resolve().parents[1]


def test_the_image_checks_the_daemon_with_this_module() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith("HEALTHCHECK")]
    assert line.split("CMD", 1)[1].split() == ['["python",', '"-m",', '"monitor.healthcheck"]']
    assert "--start-period=" in line and "--interval=" in line


def test_the_systemd_timer_runs_the_status_check() -> None:
    import configparser

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "news-monitor-check.service", encoding="utf-8")
    program, *arguments = unit["Service"]["ExecStart"].split()
    assert Path(program).name == "monitor" and arguments == ["status", "--check"]
    assert unit["Service"]["User"] == "news-monitor"
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.read(ROOT / "deploy" / "news-monitor-check.timer", encoding="utf-8")
    assert timer["Timer"]["OnUnitActiveSec"] and timer["Install"]["WantedBy"] == "timers.target"
