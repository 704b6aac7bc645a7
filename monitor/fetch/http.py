"""HTTP retrieval: conditional GET, timeouts, a total deadline, size caps, safe redirects.

The fetcher returns bytes plus caching headers (a FetchResult); it never parses.
Every expected failure raises FetchError with a short human message.

Direct requests go over kept-alive http.client connections (connections.py);
requests through a proxy, or on an injected pool, over urllib3 (proxied.py). TLS
trust and proxies are read from the environment once, when the fetcher is built
(see transport.py).

One piece (over 400 lines) because one request's deadline, redirect checks and body caps
run through every step of it (send, follow, read); the connection layers, body decoding,
address checks and proxies are already their own modules.
"""

from __future__ import annotations

import functools
import http
import http.client
import socket
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import unquote, urljoin, urlsplit

import urllib3
import urllib3.exceptions
from urllib3.util import parse_url

from monitor.config import MonitorSettings
from monitor.errors import FetchError
from monitor.fetch.addresses import Resolver, check_url_allowed, is_public_address, resolve_host
from monitor.fetch.body import BodyDecoder, content_encoding, location_url
from monitor.fetch.connections import (
    RECEIVE_BUFFER,
    Connections,
    Connector,
    ConnectTimeout,
    DirectReply,
    open_files_limit,
)
from monitor.fetch.politeness import URL_CACHE_SIZE
from monitor.fetch.proxied import PoolReply, proxy_manager, timed_pools
from monitor.fetch.proxied import deadline as proxied_deadline
from monitor.fetch.transport import basic_auth, proxy_for, proxy_settings, tls_context
from monitor.headers import parse_retry_after
from monitor.neterrors import describe_connection_error
from monitor.types import FetchResult
from monitor.urls import DEFAULT_PORTS, without_credentials

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECT_STATUSES = frozenset({301, 308})
ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml, "
          "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5")
CHUNK_SIZE = RECEIVE_BUFFER   # what a read of the body asks for
DRAIN_LIMIT = 64 * 1024       # read and discard up to this much to keep a connection


def _seconds(value: float) -> str:
    """60.0 -> "60s", 0.5 -> "0.5s"."""
    return f"{value:g}s"


def _status_message(status: int, reason: str | None) -> str:
    if not reason:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"HTTP {status} {reason}".rstrip()


class _Target:
    """Where one hop goes: scheme, host (lower-case, IDNA, IPv6 without brackets), port,
    request target (path + query) and ``user:password`` from the URL, if any."""

    __slots__ = ("scheme", "host", "port", "path", "auth")

    def __init__(self, scheme: str, host: str, port: int, path: str, auth: str | None) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
        self.auth = auth


def _split_url(url: str) -> _Target:
    """PURE. The parts of an http(s) URL a request needs; FetchError when it has none.

    The request target is percent-encoded where the URL has characters a request line
    cannot carry (non-ASCII, spaces, controls), as urllib3 and requests send it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"invalid URL {without_credentials(url)!r}") from exc
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in DEFAULT_PORTS or not host:
        raise FetchError(f"invalid URL {without_credentials(url)!r}")
    if not host.isascii():
        try:
            host = (parse_url(url).host or "").lower()     # IDNA, as requests sends it
        except urllib3.exceptions.LocationParseError as exc:
            raise FetchError(f"invalid URL {without_credentials(url)!r}") from exc
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if not (path.isascii() and path.isprintable()) or " " in path:
        try:
            path = parse_url(url).request_uri
        except urllib3.exceptions.LocationParseError as exc:
            raise FetchError(f"invalid URL {without_credentials(url)!r}") from exc
    auth = None
    if parts.username is not None:
        auth = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return _Target(scheme, host, port or DEFAULT_PORTS[scheme], path, auth)


def _with_userinfo(url: str, source: str) -> str:
    """PURE. ``url`` with the ``user:password@`` of ``source`` (as written there)."""
    userinfo = urlsplit(source).netloc.rpartition("@")[0]
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{userinfo}@{rest}"


# The URLs of sources, poll after poll; redirect hops are split without the cache (a
# redirect may carry a new token each time).
_split_source_url = functools.lru_cache(maxsize=URL_CACHE_SIZE)(_split_url)


_Reply = DirectReply | PoolReply


class _Arrival(NamedTuple):
    """Where the redirects led: the final reply (body unread), its URL, how many
    redirects were followed and whether every one of them was permanent."""

    reply: _Reply
    url: str
    redirects: int
    all_permanent: bool


class HttpFetcher:
    """Retrieves one URL at a time over shared, kept-alive connections; thread-safe.

    ``fetch()`` sends the validators it is given (If-None-Match / If-Modified-Since),
    follows redirects by hand (at most ``settings.max_redirects``), refuses redirect
    hops to non-public addresses (see addresses.py), streams the body under a total
    deadline and a size cap (also after gzip/deflate decoding), and returns a
    FetchResult whose ``headers`` has lower-case keys (every response header of the
    final response, e.g. ``retry-after``, ``cache-control``, ``expires``,
    ``content-type``).

    Connections are kept per scheme + host + port (``settings.max_concurrency``
    sizes how many hosts), reused after bodies, 304s, drained errors and redirects.
    TLS is verified; trust roots and proxies come from the environment, read once
    here (see transport.py); a CA bundle named there that cannot be read raises
    ConfigError. ``pool`` injects a urllib3 PoolManager (or ProxyManager) to use
    instead, environment proxies then being ignored.
    """

    def __init__(self, settings: MonitorSettings, *, resolve: Resolver = resolve_host,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 pool: urllib3.PoolManager | None = None,
                 open_socket: Connector = socket.create_connection) -> None:
        self.settings = settings
        self._resolve = resolve
        self._now = now
        self._connect_timeout = settings.connect_timeout.total_seconds()
        self._read_timeout = settings.read_timeout.total_seconds()
        self._deadline = settings.fetch_deadline.total_seconds()
        self._max_body = settings.max_body_size
        self._check_redirects = not settings.allow_private_networks
        self._headers = {"User-Agent": settings.user_agent, "Accept": ACCEPT,
                         "Accept-Encoding": "gzip, deflate"}
        # Pools kept warm: many feeds share a host, and a poll cycle visits each host
        # again. Each pool holds what is in flight to its host: max_per_host under the
        # HostLimiter, plus a robots.txt fetch, or up to max_concurrency without one.
        self._num_pools = min(1024, max(64, 8 * settings.max_concurrency))
        pool_kw: dict[str, Any] = {
            "num_pools": self._num_pools,
            "maxsize": max(settings.max_per_host + 1, settings.max_concurrency),
            "block": False, "retries": False}
        self._proxies: dict[str, str] = {}
        self._proxy_managers: dict[str, urllib3.PoolManager | str] = {}
        if pool is None:
            context = tls_context()
            pool_kw.update(ssl_context=context, cert_reqs="CERT_REQUIRED")
            pool = timed_pools(urllib3.PoolManager(**pool_kw))
            self._proxies = proxy_settings()
            for scheme in DEFAULT_PORTS:
                proxy = proxy_for(scheme, "", 0, self._proxies)
                if proxy is not None and proxy not in self._proxy_managers:
                    self._proxy_managers[proxy] = proxy_manager(proxy, context, pool_kw)
            # Idle direct connections: what the HostLimiter lets be in flight to a host,
            # plus one for its robots.txt; for as many hosts as half the process's open
            # files allow (a service's limit is often 1,024).
            per_host = settings.max_per_host + 1
            hosts = min(self._num_pools, max(16, open_files_limit() // 2 // per_host))
            self._connections: Connections | None = Connections(
                context, per_host, hosts, open_socket=open_socket, resolve=resolve)
        else:
            self._connections = None      # every request on the injected pool
        self.pool = pool

    def close(self) -> None:
        if self._connections is not None:
            self._connections.clear()
        self.pool.clear()
        for manager in self._proxy_managers.values():
            if not isinstance(manager, str):
                manager.clear()

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one fetch -------------------------------------------------------------------------

    def fetch(self, url: str, etag: str | None = None,
              last_modified: str | None = None, *, public_only: bool = False,
              purpose: str = "moved source at") -> FetchResult:
        """GET ``url``; a 304 gives ``content=None``. Raises FetchError on any failure.

        On a 304 the result carries the validators of the response when it sends
        any, else the ones passed in, so a caller may store ``result.etag`` as is.

        A hop to a host the operator did not configure (a redirect to another host; with
        ``public_only``, every hop, ``url`` included) must resolve to public addresses
        only, unless ``allow_private_networks``; the connection then goes to one of the
        addresses checked (pinned), so a name that answers otherwise the second time (DNS
        rebinding) cannot send the request elsewhere. ``purpose`` names what ``url`` is in
        the refusal's message ("<purpose> private address 10.0.0.1 refused").
        """
        started = time.monotonic()
        deadline = started + self._deadline
        arrival = self._follow(url, self._request_headers(etag, last_modified), deadline,
                               public_only=public_only, purpose=purpose)
        return self._result(arrival, etag, last_modified, deadline, started)

    def _request_headers(self, etag: str | None, last_modified: str | None) -> dict[str, str]:
        """The fetcher's headers, plus the validators of a conditional GET when given."""
        headers = self._headers
        if etag or last_modified:
            headers = dict(headers)
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
        return headers

    def _follow(self, url: str, headers: dict[str, str], deadline: float, *,
                public_only: bool, purpose: str) -> _Arrival:
        """Send ``url`` and follow its redirects: the final reply, its body unread."""
        target = first = _split_source_url(url)
        current = url
        all_permanent = True
        redirects = 0
        while True:
            addresses: Sequence[str] = ()
            check = self._check_redirects and (
                public_only or (redirects > 0
                                and (target.host, target.port) != (first.host, first.port)))
            if check:
                addresses = check_url_allowed(
                    current, self._resolve,
                    purpose="redirect to" if redirects else purpose)
            reply = self._send(current, target, headers, deadline, addresses)
            if check and isinstance(reply, PoolReply) and not reply.proxied:
                self._check_peer(reply)     # an injected pool connects where it resolves
            if reply.status not in REDIRECT_STATUSES:
                return _Arrival(reply, current, redirects, all_permanent)
            all_permanent = all_permanent and reply.status in PERMANENT_REDIRECT_STATUSES
            current, target = self._redirect(reply, current, target, redirects)
            redirects += 1

    def _redirect(self, reply: _Reply, current: str, target: _Target,
                  redirects: int) -> tuple[str, _Target]:
        """The URL and target a redirect reply sends to; its connection is released."""
        status = reply.status
        location = reply.headers.get("location")
        reply.release(self._drain(reply))
        if not location:
            raise FetchError(f"{_status_message(status, reply.reason)} without Location",
                             status=status)
        if redirects >= self.settings.max_redirects:
            raise FetchError(f"more than {self.settings.max_redirects} redirects",
                             status=status)
        previous = current
        current = urljoin(current, location_url(location))
        scheme = urlsplit(current).scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise FetchError(f"redirect to unsupported scheme {scheme or '(none)'} refused",
                             status=status)
        hop = _split_url(current)
        if target.auth is not None and hop.auth is None \
                and (hop.scheme, hop.host, hop.port) == (target.scheme, target.host,
                                                         target.port):
            # Same origin: the credentials go on, as browsers and requests do (an
            # absolute Location rarely repeats them); another origin never gets them.
            current = _with_userinfo(current, previous)
            hop = _split_url(current)
        return current, hop

    def _result(self, arrival: _Arrival, etag: str | None, last_modified: str | None,
                deadline: float, started: float) -> FetchResult:
        """The final reply as a FetchResult (its body read), or the FetchError it means."""
        reply = arrival.reply
        status = reply.status
        complete = False
        result_headers = reply.headers
        try:
            if status == 304:
                content = None
                complete = True     # no body by definition
            elif 200 <= status < 300:
                content = self._read_body(reply, deadline)
                complete = True
            else:
                complete = self._drain(reply)
                raise FetchError(
                    _status_message(status, reply.reason), status=status,
                    retry_after=parse_retry_after(result_headers.get("retry-after"),
                                                  self._now()),
                    gone=status == 410)
        finally:
            reply.release(complete)
        current = arrival.url
        return FetchResult(
            url=current,
            status=status,
            content=content,
            etag=result_headers.get("etag") or (etag if content is None else None),
            last_modified=result_headers.get("last-modified")
            or (last_modified if content is None else None),
            headers=result_headers,
            permanent_redirect=current if arrival.redirects and arrival.all_permanent
            else None,
            elapsed=time.monotonic() - started,
        )

    @staticmethod
    def _drain(reply: _Reply) -> bool:
        """Read a small body of known length we do not need; True when it was read whole.

        A drained response lets its connection go back to the pool for the next request.
        """
        if reply.status in (204, 304):
            return True
        headers = reply.headers
        length = (headers.get("content-length") or "").strip()
        if not (length.isascii() and length.isdigit()) or int(length) > DRAIN_LIMIT \
                or "chunked" in headers.get("transfer-encoding", "").lower():
            return False
        try:
            reply.read_all()   # the known length, even 0: then closed
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError):
            return False
        return True

    def _remaining(self, deadline: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"timed out after {_seconds(self._deadline)} (total deadline)")
        return remaining

    def _send(self, url: str, target: _Target, headers: dict[str, str],
              deadline: float, addresses: Sequence[str] = ()) -> _Reply:
        """One request, no redirect followed: the response with its body unread."""
        remaining = self._remaining(deadline)
        connect = min(self._connect_timeout, remaining)
        read = min(self._read_timeout, remaining)
        if target.auth is not None:
            headers = {**headers, "Authorization": basic_auth(target.auth)}
        proxy = proxy_for(target.scheme, target.host, target.port, self._proxies) \
            if self._proxies else None
        try:
            if proxy is None and self._connections is not None:
                return self._connections.get(target.scheme, target.host, target.port,
                                             target.path, headers, connect_timeout=connect,
                                             read_timeout=read, deadline=deadline,
                                             addresses=addresses)
            manager = self.pool if proxy is None else self._proxy_managers[proxy]
            if isinstance(manager, str):
                raise FetchError(manager)
            with proxied_deadline(deadline, self._read_timeout):
                response = manager.urlopen("GET", url, headers=headers, retries=False,
                                           redirect=False,
                                           timeout=urllib3.Timeout(connect, read),
                                           preload_content=False, decode_content=False,
                                           release_conn=False)
            proxied = proxy is not None or isinstance(manager, urllib3.ProxyManager)
            return PoolReply(response, proxied)  # type: ignore[arg-type]
        except urllib3.exceptions.NewConnectionError as exc:    # before its base class
            raise FetchError(describe_connection_error(exc, target.host)) from exc
        except (urllib3.exceptions.ConnectTimeoutError, ConnectTimeout) as exc:
            raise self._timeout_error(exc, "connect", connect, deadline) from exc
        except (urllib3.exceptions.TimeoutError, TimeoutError) as exc:
            raise self._timeout_error(exc, "read", read, deadline) from exc
        except (urllib3.exceptions.LocationValueError, UnicodeError) as exc:
            # UnicodeError: a host name IDNA cannot encode (an empty or too long label)
            raise FetchError(f"invalid URL {without_credentials(url)!r}") from exc
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            raise FetchError(describe_connection_error(exc, target.host)) from exc
        except ValueError as exc:       # a header value http.client refuses to send
            raise FetchError(f"invalid request: {exc}") from exc

    def _timeout_error(self, exc: BaseException, phase: str, limit: float,
                       deadline: float) -> FetchError:
        if time.monotonic() >= deadline - 0.05:
            return FetchError(f"timed out after {_seconds(self._deadline)} (total deadline)")
        return FetchError(f"{phase} timed out after {_seconds(limit)}")

    def _check_peer(self, reply: _Reply) -> None:
        """Refuse a redirect hop whose connected peer is not public (DNS rebinding)."""
        sock = reply.sock
        try:
            peer = sock.getpeername()[0] if sock is not None else None
        except OSError:
            peer = None
        if peer is not None and not is_public_address(peer):
            reply.release(False)
            raise FetchError(f"redirect to private address {peer} refused")

    def _read_body(self, reply: _Reply, deadline: float) -> bytes:
        length = reply.headers.get("content-length")
        if length and length.strip().isascii() and length.strip().isdigit() \
                and int(length) > self._max_body:
            raise FetchError(f"body larger than {self._max_body} bytes")
        decoder = BodyDecoder(content_encoding(reply.headers), self._max_body)
        raw_size = 0
        while True:
            reply.limit_reads(min(self._read_timeout, self._remaining(deadline)))
            try:
                chunk = reply.read1(CHUNK_SIZE)
            except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
                raise self._timeout_error(exc, "read", self._read_timeout, deadline) from exc
            except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
                raise FetchError(describe_connection_error(exc, "")) from exc
            if not chunk:
                break
            raw_size += len(chunk)
            if raw_size > self._max_body and not decoder.encoding:
                raise FetchError(f"body larger than {self._max_body} bytes")
            decoder.feed(chunk)
        return decoder.finish()
