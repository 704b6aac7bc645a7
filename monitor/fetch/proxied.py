"""Requests through a proxy, or on an injected urllib3 pool: urllib3 carries them.

Direct requests go over http.client (connections.py); HttpFetcher reads both kinds of
response through the same interface (status, reason, lower-case headers, read1,
read_all, release).

urllib3 reads a response through http.client too: ``timed_pools`` gives a manager's
connections a response class that reads under the deadline of the request the calling
thread is making (``deadline(...)``), as direct requests do.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import urllib3
import urllib3.exceptions
from urllib3.response import HTTPResponse

from monitor.fetch.connections import TimedSocket, Timing, merged_headers
from monitor.fetch.transport import basic_auth, proxy_auth, redacted


class PoolReply:
    """A urllib3 response, behind the interface of connections.DirectReply."""

    def __init__(self, response: HTTPResponse, proxied: bool) -> None:
        self._response = response
        self.status = response.status
        self.reason = response.reason
        self.headers = merged_headers(response.headers.itermerged())
        self.proxied = proxied

    @property
    def sock(self) -> socket.socket | None:
        return getattr(self._response.connection, "sock", None)

    def read1(self, size: int) -> bytes:
        return self._response.read1(size, decode_content=False)

    def read_all(self) -> bytes:
        return self._response.read(decode_content=False)

    def limit_reads(self, seconds: float) -> None:
        """Bound the body's next read by ``seconds`` (urllib3 reads under the socket's
        timeout); nothing when the connection has no socket left to set."""
        sock = self.sock
        if sock is not None and sock.gettimeout() != seconds:
            try:
                sock.settimeout(seconds)
            except OSError:
                pass

    def release(self, complete: bool) -> None:
        """Back to the pool when the body was read whole, else close the connection."""
        if not complete:
            self._response.close()    # the pool gets its slot back, and will reconnect
        self._response.release_conn()


def proxy_manager(proxy: str, context: ssl.SSLContext,
                   pool_kw: dict[str, Any]) -> urllib3.PoolManager | str:
    """A pool manager reaching hosts through ``proxy``, or why there can be none."""
    scheme = urlsplit(proxy).scheme.lower()
    try:
        if scheme.startswith("socks"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from urllib3.contrib.socks import SOCKSProxyManager
            return timed_pools(SOCKSProxyManager(proxy, **pool_kw))
        auth = proxy_auth(proxy)
        return timed_pools(urllib3.ProxyManager(
            proxy, proxy_headers={"Proxy-Authorization": basic_auth(auth)} if auth else None,
            proxy_ssl_context=context if scheme == "https" else None, **pool_kw))
    except ImportError:
        return f"SOCKS proxy {redacted(proxy)} needs PySocks (urllib3[socks])"
    except (urllib3.exceptions.HTTPError, ValueError):
        return f"unsupported proxy {redacted(proxy)}"


_current = threading.local()      # the Timing of the request this thread is sending


@contextmanager
def deadline(at: float, read_timeout: float) -> Iterator[None]:
    """Responses that begin in this block, on this thread, read under ``at`` (a
    time.monotonic() value) and ``read_timeout``, on pools set up by ``timed_pools``."""
    timing = Timing(time.monotonic)
    timing.deadline, timing.read_timeout = at, read_timeout
    outer = getattr(_current, "timing", None)
    _current.timing = timing
    try:
        yield
    finally:
        _current.timing = outer


class _ThreadTimedResponses:
    """A connection's ``response_class``: under the calling thread's deadline, if any."""

    def __call__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> http.client.HTTPResponse:
        timing = getattr(_current, "timing", None)
        if timing is not None:
            sock = TimedSocket(sock, timing)  # type: ignore[assignment]
        return http.client.HTTPResponse(sock, *args, **kwargs)


def timed_pools(manager: urllib3.PoolManager) -> urllib3.PoolManager:
    """``manager``, its pools making connections whose responses read under ``deadline``
    (every pool class it has: plain, TLS, SOCKS)."""
    timed: dict[str, Any] = {}
    pool_class: type[urllib3.HTTPConnectionPool]
    for scheme, pool_class in manager.pool_classes_by_scheme.items():
        connection_class = type(f"Timed{pool_class.ConnectionCls.__name__}",
                                (pool_class.ConnectionCls,),
                                {"response_class": _ThreadTimedResponses()})
        timed[scheme] = type(f"Timed{pool_class.__name__}", (pool_class,),
                             {"ConnectionCls": connection_class})
    manager.pool_classes_by_scheme = timed
    return manager
