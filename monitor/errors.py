"""One exception tree for news-monitor, rooted at MonitorError.

Expected failures of a source (a timeout, a 404, a malformed feed) are raised as
FetchError / ParseError and recorded as data on the source; they never stop a cycle.
"""

from __future__ import annotations

from monitor.types import ErrorKind


class MonitorError(Exception):
    """Base of every error news-monitor raises on purpose."""


class ConfigError(MonitorError):
    """The configuration is missing or invalid; the message names the key path."""


class FetchError(MonitorError):
    """Retrieving a source failed (network, HTTP status, size cap, refused address)."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None, gone: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.gone = gone

    @property
    def kind(self) -> ErrorKind:
        return "gone" if self.gone else "fetch"


class ParseError(MonitorError):
    """The fetched body could not be read as a feed or page."""

    kind: ErrorKind = "parse"


class SelectorError(ParseError):
    """A page's item_selector matched nothing: its layout has probably changed (a health
    incident of its own, told to operators at once)."""

    kind: ErrorKind = "selector"


class StoreError(MonitorError):
    """The database is unusable: newer than the code, locked by another daemon, corrupt."""


class NotifyError(MonitorError):
    """A notifier could not deliver a digest.

    ``permanent`` means retrying will not help (an SMTP 5xx, a 4xx from a webhook
    other than 408/429); ``retry_after`` is a server-requested delay in seconds.
    """

    def __init__(self, message: str, *, permanent: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
