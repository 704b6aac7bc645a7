"""The HTTP face in the daemon's process: uvicorn on a thread of its own.

`WebServer.start` binds the listen address itself (so a port in use is one clear error
before the daemon starts, and port 0 gets a free port), then serves on a thread;
`stop` asks uvicorn to finish the requests in flight and waits for the thread.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from monitor.config import HttpSettings
from monitor.errors import MonitorError
from monitor.web.app import Metrics, create_app
from monitor.web.context import Web

log = logging.getLogger("monitor.web")

START_TIMEOUT = 10.0       # seconds for uvicorn to start serving
STOP_TIMEOUT = 5.0         # seconds for the requests in flight to finish at a stop


def _listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on (host, port). Its protocol is named (IPPROTO_TCP), not
    left 0 as socket.create_server leaves it: asyncio turns Nagle's algorithm off only on
    sockets that say TCP, and with it on every answer on a kept-alive connection waited
    about 40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class WebServer:
    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.app = app
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Bind and serve; MonitorError when the address cannot be bound or uvicorn does
        not start."""
        try:
            sock = _listening_socket(self.host, self.port)
        except OSError as exc:
            raise MonitorError(f"http: cannot listen on {self.host}:{self.port}: "
                               f"{exc.strerror or exc}") from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off",
                                proxy_headers=False, server_header=False,
                                timeout_graceful_shutdown=int(STOP_TIMEOUT))
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                        name="http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise MonitorError(f"http: the server on {self.url} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving: requests in flight get STOP_TIMEOUT seconds to finish."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT + 2)
        if self._thread.is_alive():
            log.warning("http: the server did not stop within %.0fs", STOP_TIMEOUT + 2)
        self._server = self._thread = None


def serve(settings: HttpSettings, web: Web, metrics: Metrics | None = None) -> WebServer:
    """Start the HTTP face of ``web`` on ``settings.listen``; one log line says where and
    who may do what."""
    server = WebServer(create_app(web, settings, metrics=metrics), settings.host,
                       settings.port)
    server.start()
    access = ("reads open on this loopback address" if settings.loopback
              else "every request needs the bearer token")
    writes = (f"API writes need the bearer token from ${settings.token_env}"
              if settings.token_env else "API writes refused (no token_env)")
    log.info("http: serving the status page on %s (%s; %s)", server.url, access, writes)
    return server
