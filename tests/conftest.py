"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.loopback import LoopbackHTTPServer


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
