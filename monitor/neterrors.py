"""Network failures in a few words: what the operator needs from a urllib3/requests error.

requests and urllib3 wrap the real cause (refused, unresolvable, TLS) in several layers
whose ``str()`` is a paragraph of reprs. Fetching sources and sending webhooks both say
what happened in one short phrase instead.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator

import urllib3.exceptions


def causes(exc: BaseException) -> Iterator[BaseException]:
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


def describe_connection_error(exc: BaseException, host: str) -> str:
    """A short message for a failure to connect or to talk to the server."""
    for cause in causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, http.client.RemoteDisconnected):  # a ConnectionResetError
            return "connection closed without a response"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by server"
        if isinstance(cause, socket.gaierror | urllib3.exceptions.NameResolutionError):
            return f"cannot resolve host {host}"
        if isinstance(cause, ssl.SSLError):   # args are (errno, message): str() says both
            return f"TLS error: {str(cause)[:160]}"
        if isinstance(cause, urllib3.exceptions.SSLError):
            detail = str(cause.args[0] if cause.args else cause)
            return f"TLS error: {detail[:160]}"
        if isinstance(cause, urllib3.exceptions.IncompleteRead | http.client.IncompleteRead):
            return "connection closed before the body was complete"
    return "connection failed"
