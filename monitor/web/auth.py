"""Who may do what over HTTP.

- Reads (the pages, the API's GETs, /metrics) are open on a loopback listen address; on
  any other address they need ``Authorization: Bearer <token>``.
- Writes through the API (its POSTs) always need the bearer token; with no ``token_env``
  configured they are refused.
- The page's buttons (retry, poll now) are form posts. They carry this process's CSRF
  token in a hidden field, and a browser's ``Sec-Fetch-Site`` and ``Origin`` must say the
  post comes from this server's own page. On a loopback listen address they need no bearer
  token (a browser cannot add one): whoever can read the page on this machine can press
  its buttons, as they could run ``monitor deliveries --retry``. On any other address the
  bearer token is needed as well (set by the proxy in front).
- On a loopback listen address the ``Host`` header must name a loopback address, so a
  site whose name is made to resolve to 127.0.0.1 (DNS rebinding) reads nothing.
- /healthz and /readyz are open on every address: they carry no feed data.

Tokens are compared in constant time (hmac.compare_digest) and never logged.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.requests import Request

from monitor.config import HttpSettings

CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: its status, a message for the caller, extra headers."""

    status: int
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)


def _loopback_name(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class Access:
    """The checks of one server: its listen address, its token (None: writes through the
    API are refused) and its per-process CSRF token."""

    def __init__(self, settings: HttpSettings, csrf: str) -> None:
        self.loopback = settings.loopback
        self._token = settings.token.get_secret_value() if settings.token else None
        self.csrf = csrf

    def read(self, request: Request) -> Refusal | None:
        return self._host(request) or (None if self.loopback else self._bearer(request))

    def api_write(self, request: Request) -> Refusal | None:
        return self._host(request) or self._bearer(request)

    def form(self, request: Request, fields: Mapping[str, str]) -> Refusal | None:
        return (self._host(request) or self._same_origin(request)
                or self._csrf(fields) or (None if self.loopback else self._bearer(request)))

    def _host(self, request: Request) -> Refusal | None:
        if self.loopback and not _loopback_name(request.url.hostname):
            return Refusal(421, "this server answers on its loopback address only; the "
                                "Host header names another")
        return None

    def _bearer(self, request: Request) -> Refusal | None:
        if self._token is None:
            return Refusal(403, "refused: the [http] table names no token_env, so nothing "
                                "may write through the API")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return Refusal(401, "this needs the header Authorization: Bearer <token>",
                           {"WWW-Authenticate": 'Bearer realm="news-monitor"'})
        if not _same(given.strip(), self._token):
            return Refusal(401, "wrong token",
                           {"WWW-Authenticate": 'Bearer realm="news-monitor", '
                                                'error="invalid_token"'})
        return None

    def _same_origin(self, request: Request) -> Refusal | None:
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return Refusal(403, f"refused: a form post from another site ({site})")
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            return Refusal(403, "refused: a form post from another origin")
        return None

    def _csrf(self, fields: Mapping[str, str]) -> Refusal | None:
        if not _same(fields.get(CSRF_FIELD, ""), self.csrf):
            return Refusal(403, "refused: the form's token is missing or stale; reload "
                                "the page and try again")
        return None
