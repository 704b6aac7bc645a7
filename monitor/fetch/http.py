"""HTTP retrieval: conditional GET, timeouts, a total deadline, size caps, safe redirects.

The fetcher returns bytes plus caching headers (a FetchResult); it never parses.
Every expected failure raises FetchError with a short human message.
"""

from __future__ import annotations

import http
import http.client
import os
import socket
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.request import getproxies_environment

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from monitor.config import MonitorSettings
from monitor.errors import FetchError
from monitor.fetch.addresses import Resolver, check_url_allowed, is_public_address, resolve_host
from monitor.fetch.politeness import host_key
from monitor.types import FetchResult

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECT_STATUSES = frozenset({301, 308})
ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml, "
          "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5")
CHUNK_SIZE = 64 * 1024
DRAIN_LIMIT = 64 * 1024       # read and discard up to this much to keep a connection


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date).

    PURE. A date in the past gives 0; an unreadable value gives None.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


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


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """exc and everything it wraps (args, urllib3 ``reason``, __cause__, __context__)."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [getattr(current, "reason", None), current.__cause__, current.__context__,
                 *current.args]
        stack.extend(e for e in inner if isinstance(e, BaseException))


def _describe_connection_error(exc: BaseException, host: str) -> str:
    """A short message for a failure to connect or to talk to the server."""
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by server"
        if isinstance(cause, socket.gaierror | urllib3.exceptions.NameResolutionError):
            return f"cannot resolve host {host}"
        if isinstance(cause, urllib3.exceptions.SSLError | requests.exceptions.SSLError):
            detail = str(cause.args[0] if cause.args else cause)
            return f"TLS error: {detail[:160]}"
        if isinstance(cause, urllib3.exceptions.IncompleteRead | http.client.IncompleteRead):
            return "connection closed before the body was complete"
    return "connection failed"


class _BodyDecoder:
    """Decodes gzip/deflate as it arrives, never producing more than ``limit`` + 1 bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self._started = False
        self._obj: Any = self._new() if encoding else None

    def _new(self, raw_deflate: bool = False) -> Any:
        if raw_deflate:
            return zlib.decompressobj(-zlib.MAX_WBITS)
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header, detected

    def _append(self, data: bytes) -> None:
        if data:
            self.parts.append(data)
            self.size += len(data)
            if self.size > self.limit:
                raise FetchError(f"body larger than {self.limit} bytes")

    def feed(self, data: bytes) -> None:
        if self._obj is None:
            self._append(data)
            return
        try:
            while data:
                out = self._obj.decompress(data, self.limit - self.size + 1)
                self._started = True
                self._append(out)
                data = self._obj.unconsumed_tail
                if self._obj.eof and self._obj.unused_data:  # another gzip member follows
                    data = self._obj.unused_data + data
                    self._obj = self._new()
        except zlib.error as exc:
            if self.encoding == "deflate" and not self.parts and self.size == 0:
                # Some servers send raw deflate without the zlib header.
                self._obj = self._new(raw_deflate=True)
                self.encoding = "raw-deflate"
                self.feed(data)
                return
            raise FetchError(f"invalid {self.encoding} body") from exc

    def finish(self) -> bytes:
        if self._obj is not None and self._started:
            try:
                self._append(self._obj.flush())
            except zlib.error as exc:
                raise FetchError(f"invalid {self.encoding} body") from exc
        return b"".join(self.parts)


def _content_encoding(headers: Mapping[str, str]) -> str:
    value = (headers.get("Content-Encoding") or "").strip().lower()
    if value in ("", "identity"):
        return ""
    if value in ("gzip", "x-gzip"):
        return "gzip"
    if value == "deflate":
        return "deflate"
    raise FetchError(f"unsupported Content-Encoding {value}")


class HttpFetcher:
    """Retrieves one URL at a time over a shared, pooled ``requests.Session``; thread-safe.

    ``fetch()`` sends the validators it is given (If-None-Match / If-Modified-Since),
    follows redirects by hand (at most ``settings.max_redirects``), refuses redirect
    hops to non-public addresses (see addresses.py), streams the body under a total
    deadline and a size cap (also after gzip/deflate decoding), and returns a
    FetchResult whose ``headers`` has lower-case keys (every response header of the
    final response, e.g. ``retry-after``, ``cache-control``, ``expires``,
    ``content-type``).
    """

    def __init__(self, settings: MonitorSettings, *, resolve: Resolver = resolve_host,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 session: requests.Session | None = None) -> None:
        self.settings = settings
        self._resolve = resolve
        self._now = now
        self._connect_timeout = settings.connect_timeout.total_seconds()
        self._read_timeout = settings.read_timeout.total_seconds()
        self._deadline = settings.fetch_deadline.total_seconds()
        self._max_body = settings.max_body_size
        self.session = session or requests.Session()
        # requests re-reads every environment variable on each request when trust_env is
        # set (a third of its CPU per request here). Read the environment once instead: with
        # no proxy variables nothing is lost but .netrc, which feeds do not use.
        self._proxied = bool(self.session.proxies or getproxies_environment())
        if session is None and not self._proxied:
            self.session.trust_env = False
            ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if ca_bundle:
                self.session.verify = ca_bundle
        adapter = HTTPAdapter(pool_connections=max(10, settings.max_concurrency),
                              pool_maxsize=max(settings.max_per_host, settings.max_concurrency),
                              max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({
            "User-Agent": settings.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
        })

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one fetch -------------------------------------------------------------------------

    def fetch(self, url: str, etag: str | None = None,
              last_modified: str | None = None) -> FetchResult:
        """GET ``url``; a 304 gives ``content=None``. Raises FetchError on any failure.

        On a 304 the result carries the validators of the response when it sends
        any, else the ones passed in, so a caller may store ``result.etag`` as is.
        """
        started = time.monotonic()
        deadline = started + self._deadline
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        first_host = host_key(url)
        current = url
        all_permanent = True
        redirects = 0
        while True:
            check = redirects > 0 and not self.settings.allow_private_networks \
                and host_key(current) != first_host
            if check:
                check_url_allowed(current, self._resolve, purpose="redirect to")
            response = self._send(current, headers, deadline)
            if check:
                self._check_peer(response, current)
            if response.status_code not in REDIRECT_STATUSES:
                break
            location = response.headers.get("Location")
            status = response.status_code
            self._release(response, self._drain(response))
            if not location:
                raise FetchError(f"{_status_message(status, response.reason)} without Location",
                                 status=status)
            if redirects >= self.settings.max_redirects:
                raise FetchError(f"more than {self.settings.max_redirects} redirects",
                                 status=status)
            all_permanent = all_permanent and status in PERMANENT_REDIRECT_STATUSES
            current = urljoin(current, location.strip())
            if urlsplit(current).scheme.lower() not in ("http", "https"):
                raise FetchError(f"redirect to unsupported scheme "
                                 f"{urlsplit(current).scheme or '(none)'} refused", status=status)
            redirects += 1
        complete = False
        try:
            result_headers = {k.lower(): v for k, v in response.headers.items()}
            status = response.status_code
            if status == 304:
                content = None
                complete = self._drain(response)
            elif 200 <= status < 300:
                content = self._read_body(response, deadline)
                complete = True
            else:
                complete = self._drain(response)
                raise FetchError(
                    _status_message(status, response.reason), status=status,
                    retry_after=parse_retry_after(response.headers.get("Retry-After"),
                                                  self._now()),
                    gone=status == 410)
        finally:
            self._release(response, complete)
        return FetchResult(
            url=current,
            status=status,
            content=content,
            etag=result_headers.get("etag") or (etag if content is None else None),
            last_modified=result_headers.get("last-modified")
            or (last_modified if content is None else None),
            headers=result_headers,
            permanent_redirect=current if redirects and all_permanent else None,
            elapsed=time.monotonic() - started,
        )

    @staticmethod
    def _drain(response: requests.Response) -> bool:
        """Read a small body of known length we do not need; True when it was read whole.

        A drained response lets its connection go back to the pool for the next request.
        """
        if response.status_code in (204, 304):
            return True
        length = (response.headers.get("Content-Length") or "").strip()
        if not length.isdigit() or int(length) > DRAIN_LIMIT \
                or "chunked" in response.headers.get("Transfer-Encoding", "").lower():
            return False
        try:
            response.raw.read(int(length), decode_content=False)
        except (urllib3.exceptions.HTTPError, OSError):
            return False
        return True

    @staticmethod
    def _release(response: requests.Response, complete: bool) -> None:
        """Back to the pool when the body was read whole, else close the connection."""
        if complete:
            response.raw.release_conn()
        else:
            response.close()

    def _remaining(self, deadline: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"timed out after {_seconds(self._deadline)} (total deadline)")
        return remaining

    def _send(self, url: str, headers: dict[str, str], deadline: float) -> requests.Response:
        remaining = self._remaining(deadline)
        connect = min(self._connect_timeout, remaining)
        read = min(self._read_timeout, remaining)
        host = urlsplit(url).hostname or url
        try:
            return self.session.get(url, headers=headers, timeout=(connect, read),
                                    allow_redirects=False, stream=True)
        except requests.exceptions.ConnectTimeout as exc:
            raise self._timeout_error(exc, "connect", connect, deadline) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise self._timeout_error(exc, "read", read, deadline) from exc
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as exc:
            raise FetchError(f"invalid URL {url!r}") from exc
        except requests.exceptions.RequestException as exc:
            raise FetchError(_describe_connection_error(exc, host)) from exc

    def _timeout_error(self, exc: BaseException, phase: str, limit: float,
                       deadline: float) -> FetchError:
        if time.monotonic() >= deadline - 0.05:
            return FetchError(f"timed out after {_seconds(self._deadline)} (total deadline)")
        return FetchError(f"{phase} timed out after {_seconds(limit)}")

    def _check_peer(self, response: requests.Response, url: str) -> None:
        """Refuse a redirect hop whose connected peer is not public (DNS rebinding)."""
        if self._proxied:
            return  # the peer may be the proxy, not the host
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
        try:
            peer = sock.getpeername()[0] if sock is not None else None
        except OSError:
            peer = None
        if peer is not None and not is_public_address(peer):
            response.close()
            raise FetchError(f"redirect to private address {peer} refused")

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        length = response.headers.get("Content-Length")
        if length and length.strip().isdigit() and int(length) > self._max_body:
            raise FetchError(f"body larger than {self._max_body} bytes")
        decoder = _BodyDecoder(_content_encoding(response.headers), self._max_body)
        raw = response.raw
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        raw_size = 0
        while True:
            remaining = self._remaining(deadline)
            if sock is not None:
                try:
                    sock.settimeout(min(self._read_timeout, remaining))
                except OSError:
                    sock = None
            try:
                chunk = raw.read1(CHUNK_SIZE, decode_content=False)
            except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
                raise self._timeout_error(exc, "read", self._read_timeout, deadline) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise FetchError(_describe_connection_error(exc, "")) from exc
            if not chunk:
                break
            raw_size += len(chunk)
            if raw_size > self._max_body and not decoder.encoding:
                raise FetchError(f"body larger than {self._max_body} bytes")
            decoder.feed(chunk)
        return decoder.finish()

