"""``type = "apprise"``: each digest, as plain text, to every Apprise URL (chat, push, SMS).

Apprise (the optional extra ``news-monitor[apprise]``) speaks to some hundred services by
URL: ``discord://``, ``tgram://``, ``mailto://``, ``json://host/path`` ... The URLs hold the
services' tokens, so they come from the environment variable named by ``urls_env`` and
never appear in messages or logs: the notifier names each URL by its scheme only, and
scrubs the URLs' secret parts from every record Apprise logs while it is alive.

Apprise reports failure by returning False, not by raising; that becomes a retryable
NotifyError carrying the (scrubbed) warnings Apprise logged meanwhile, so the
delivery stage retries and dead-letters it like any other notifier. With several URLs,
one failure fails the digest and the retry sends it to every URL again.
"""

from __future__ import annotations

import logging

from monitor.config import APPRISE_EXTRA, AppriseNotifierConfig
from monitor.digest import DigestRenderer, one_line, render_subject
from monitor.errors import ConfigError, NotifyError
from monitor.notify.base import ERROR_BODY_LIMIT, scrub, url_secrets
from monitor.types import Digest

log = logging.getLogger(__name__)

APPRISE_LOGGER = "apprise"


class _Scrubber(logging.Filter):
    """Removes URL secrets from every record of Apprise's logger (debug lines print URLs)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(sorted(set(secrets), key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message, *self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class _Warnings(logging.Handler):
    """Collects the warnings Apprise logs during one send: the reason it failed.

    Apprise sends from its own worker threads, so records are not told apart by thread:
    two Apprise notifiers failing at the same moment may each show the other's reason too.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class AppriseNotifier:
    """Sends each digest to the Apprise URLs in ``$urls_env`` (``type = "apprise"``)."""

    type = "apprise"
    options = AppriseNotifierConfig

    def __init__(self, config: AppriseNotifierConfig) -> None:
        self.name = config.name
        self.config = config
        urls = [u.get_secret_value() for u in config.urls]
        self._secrets = tuple(s for url in urls for s in (url, *url_secrets(url)))
        try:
            import apprise  # the optional extra; imported here so the registry needs it not
        except ImportError:
            raise ConfigError(f"notifier {self.name!r}: type \"apprise\" needs the optional "
                              f"Apprise package: {APPRISE_EXTRA}") from None
        self._scrubber = _Scrubber(self._secrets)
        logging.getLogger(APPRISE_LOGGER).addFilter(self._scrubber)
        self._apprise = apprise.Apprise()
        for number, url in enumerate(urls, 1):
            if not self._apprise.add(url):  # checked at config load; the package may differ
                raise ConfigError(f"notifier {self.name!r}: URL {number} in "
                                  f"{config.urls_env} is not one Apprise can use")
        self._renderer = DigestRenderer(config.zone)

    def __repr__(self) -> str:
        return (f"AppriseNotifier(name={self.name!r}, urls_env={self.config.urls_env!r}, "
                f"urls={len(self.config.urls)})")

    def close(self) -> None:
        logging.getLogger(APPRISE_LOGGER).removeFilter(self._scrubber)

    def send(self, digest: Digest) -> None:
        title = render_subject(digest)
        body = self._renderer.text(digest)
        warnings = _Warnings()
        logger = logging.getLogger(APPRISE_LOGGER)
        logger.addHandler(warnings)
        try:
            ok = self._apprise.notify(body=body, title=title, body_format="text")
        except Exception as exc:  # noqa: BLE001 - a plugin bug: report it, scrubbed
            reason = one_line(scrub(f"{type(exc).__name__}: {exc}", *self._secrets),
                              ERROR_BODY_LIMIT)
            raise NotifyError(f"apprise {self.name}: {reason}") from None
        finally:
            logger.removeHandler(warnings)
        if ok:
            log.debug("apprise %s: digest %s delivered to %d URLs", self.name, digest.id,
                      len(self.config.urls))
            return
        reason = "; ".join(dict.fromkeys(warnings.messages)) or "Apprise reported a failure"
        reason = one_line(scrub(reason, *self._secrets), ERROR_BODY_LIMIT)
        raise NotifyError(f"apprise {self.name}: {reason}", permanent=False)
