"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import postgres_database
from tests.loopback import LoopbackHTTPServer


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject's addopts): one test process per core, but at least 4 and at most
    8. The slow tests mostly wait (daemons starting, subprocesses, PostgreSQL), so even two
    cores keep four processes busy; more than 8 would only add databases and start-ups."""
    return min(max(os.cpu_count() or 1, 4), 8)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LoopbackHTTPServer]:
    """One loopback server per module: starting and stopping one takes a moment."""
    with LoopbackHTTPServer() as srv:
        yield srv


@pytest.fixture
def fresh_server(shared_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """The module's server with its routes, recorded requests and counters reset."""
    with shared_server.lock:
        shared_server.routes.clear()
        shared_server.requests.clear()
        shared_server.max_in_flight = shared_server.in_flight
    return shared_server


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """``[monitor] database`` for a test run on each backend: a new SQLite file, and a new
    PostgreSQL database (skipped without $MONITOR_TEST_POSTGRES_URL; dropped after)."""
    if request.param == "sqlite":
        yield str(tmp_path / "m.db")
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def postgres() -> Iterator[str]:
    """A new PostgreSQL database's URL, for the tests of that backend alone."""
    with postgres_database() as url:
        yield url
