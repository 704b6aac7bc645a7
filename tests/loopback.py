"""Real servers on 127.0.0.1 for tests: an HTTP server with programmable routes.

    with LoopbackHTTPServer() as server:
        server.route("/feed.xml", Response(body=b"...", headers={"ETag": '"1"'}))
        url = server.url("/feed.xml")
        ...
        server.requests  # every request seen, as RecordedRequest

A route is a Response, or a callable taking the RecordedRequest and returning one.
Also here: RawTCPServer (a listener whose connections a subclass serves byte by byte),
TricklingServer and RssFeed (a feed whose items a test sets between polls). Clocks and
other fakes are in tests/fakes.py.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0               # seconds to wait before answering
    trickle: float | None = None     # seconds between single bytes of the body


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    started: float
    client: tuple[str, int]


Handler = Response | Callable[[RecordedRequest], Response]


class LoopbackHTTPServer:
    """A threaded HTTP/1.1 server on an ephemeral port of 127.0.0.1."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = RecordedRequest(self.command, self.path, dict(self.headers.items()),
                                          body, time.monotonic(), self.client_address)
                with outer.lock:
                    outer.requests.append(request)
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:
                    handler = outer.routes.get(self.path.split("?")[0])
                    if handler is None:
                        response = Response(404, b"not found")
                    elif callable(handler):
                        response = handler(request)
                    else:
                        response = handler
                    if response.delay:
                        time.sleep(response.delay)
                    self.send_response(response.status)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    if "Content-Length" not in response.headers:
                        self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    if self.command == "HEAD":
                        return
                    if response.trickle is not None:
                        for i in range(len(response.body)):
                            self.wfile.write(response.body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(response.trickle)
                    else:
                        self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with outer.lock:
                        outer.in_flight -= 1

            do_GET = do_POST = do_HEAD = do_PUT = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.path.split("?")[0] == path]

    def __enter__(self) -> LoopbackHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class RawTCPServer:
    """A TCP listener on 127.0.0.1: each accepted connection is served on a thread of its own
    by ``serve(conn, index)``, index counting connections from 0. A subclass sets its own
    fields first and calls ``super().__init__()`` last: accepting starts there."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                index = self.connections
                self.connections += 1
            threading.Thread(target=self.serve, args=(conn, index), daemon=True).start()

    def serve(self, conn: socket.socket, index: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()


class TricklingServer(RawTCPServer):
    """A raw TCP server on 127.0.0.1: reads a request, sends ``head`` at once, then
    ``drip`` every ``interval`` seconds until the client hangs up or ``limit`` drips went
    out. ``trickled`` counts the drips sent: how long a client kept listening."""

    def __init__(self, head: bytes, drip: bytes = b"a", *, read_request: bool = True,
                 interval: float = 0.1, limit: int = 300) -> None:
        self.head = head
        self.drip = drip
        self.read_request = read_request
        self.interval = interval
        self.limit = limit
        self.trickled = 0
        self.hung_up = threading.Event()
        self._stop = threading.Event()
        super().__init__()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/feed"

    def serve(self, conn: socket.socket, index: int) -> None:
        with conn:
            try:
                if self.read_request:
                    conn.recv(65536)
                conn.sendall(self.head)
                for _ in range(self.limit):
                    if self._stop.wait(self.interval):
                        return
                    conn.sendall(self.drip)
                    self.trickled += 1
            except OSError:
                self.hung_up.set()       # the client closed: a send fails

    def close(self) -> None:
        self._stop.set()
        super().close()


class RssFeed:
    """An RSS feed on a LoopbackHTTPServer whose items, (guid, title), the test sets between
    polls; each item links to https://news.example/ and its quoted guid."""

    def __init__(self, server: LoopbackHTTPServer, path: str) -> None:
        self.items: list[tuple[str, str]] = []
        self.url = server.url(path)
        server.route(path, self._serve)

    def entries(self) -> list[tuple[str, str]]:
        return self.items

    def _serve(self, _request: object) -> Response:
        body = "".join(f"<item><guid>{escape(g)}</guid><title>{escape(t)}</title>"
                       f"<link>https://news.example/{quote(g, safe='')}</link></item>"
                       for g, t in self.entries())
        return Response(body=f'<rss version="2.0"><channel><title>F</title>{body}'
                             f"</channel></rss>".encode())


def wait_for(condition: Callable[[], object], timeout: float = 10.0,
             interval: float = 0.02) -> object:
    """Wait until condition() is truthy, with a deadline; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
