"""What the HTTP face's handlers share: the config, the store, the clock and the daemon.

`Control` is what the face asks of the running daemon (monitor.scheduler.Daemon has it
all); None when no daemon runs beside it (a benchmark, a test of the pages alone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Protocol

from monitor.config import Config, SourceConfig
from monitor.liveness import PollLog
from monitor.store.base import Store


class Control(Protocol):
    recent_polls: PollLog

    def poll_now(self, name: str) -> bool:
        """Poll the source at once; False when no source has that name."""

    def deliver_now(self) -> None:
        """Attempt the due deliveries now."""

    def liveness(self) -> str | None:
        """None while the daemon's scheduler ticks, else why not."""


@dataclass(frozen=True)
class NodeInfo:
    """One node of a cluster (several `monitor run` on one PostgreSQL database), as the
    status page lists it."""

    name: str
    last_seen: datetime
    detail: str = ""          # e.g. "312 sources leased, 4 workers"


class BadParameter(Exception):
    """A query parameter the API cannot use: 400, naming it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


class NotFound(Exception):
    """No such source or delivery: 404 with the message."""


class Unavailable(Exception):
    """What was asked needs what is not there (the daemon): 503 with the message."""


@dataclass(frozen=True)
class Web:
    config: Config
    store: Store
    clock: Callable[[], datetime]
    control: Control | None = None
    # The cluster's nodes; None (or a single node) on a node of its own: the page's
    # section of nodes then shows nothing.
    nodes: Callable[[], Sequence[NodeInfo]] | None = None

    @cached_property
    def _sources(self) -> Mapping[str, SourceConfig]:
        return {s.name: s for s in self.config.sources}

    def source(self, name: str) -> SourceConfig:
        """The configured source of that name; NotFound when there is none."""
        found = self._sources.get(name)
        if found is None:
            raise NotFound(f"no source named {name!r} in the config")
        return found
