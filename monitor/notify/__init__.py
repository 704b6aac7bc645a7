"""Notifiers, by explicit registry: the config's ``type`` -> the class that delivers.

Each class declares its ``type`` name, its typed options class (``options``, a
pydantic model from monitor.config) and a docstring. Add a notifier by writing its
module and one line in NOTIFIER_TYPES; nothing registers itself on import.
"""

from __future__ import annotations

from monitor.config import MonitorSettings, NotifierConfig
from monitor.errors import ConfigError
from monitor.notify.apprise import AppriseNotifier
from monitor.notify.base import Notifier
from monitor.notify.email import EmailNotifier
from monitor.notify.file import FileNotifier
from monitor.notify.webhook import WebhookNotifier

NOTIFIER_TYPES: dict[str, type] = {
    "email": EmailNotifier,
    "webhook": WebhookNotifier,
    "file": FileNotifier,
    "apprise": AppriseNotifier,  # imports the optional `apprise` package when built
}

__all__ = ["NOTIFIER_TYPES", "AppriseNotifier", "EmailNotifier", "FileNotifier", "Notifier",
           "WebhookNotifier", "build_notifier"]


def build_notifier(config: NotifierConfig,
                   user_agent: str = MonitorSettings().user_agent) -> Notifier:
    """The notifier for one ``[[notifiers]]`` entry; a webhook sends ``user_agent`` (the
    ``[monitor] user_agent``, as the fetcher does)."""
    cls = NOTIFIER_TYPES.get(config.type)
    if cls is None:
        raise ConfigError(f"notifier {config.name!r}: unknown type {config.type!r}; "
                          f"known: {', '.join(NOTIFIER_TYPES)}")
    if cls is WebhookNotifier:
        return WebhookNotifier(config, user_agent=user_agent)  # type: ignore[arg-type]
    notifier: Notifier = cls(config)
    return notifier
