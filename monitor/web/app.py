"""The HTTP face's application: its route table, who may call each route, its errors.

`create_app` is the one place that lists every path the daemon answers on (DESIGN.md
"HTTP face"). Handlers run in worker threads (the store blocks); each route is wrapped in
its access check (monitor.web.auth): `read`, `api_write` or `form`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.config import HttpSettings
from monitor.errors import StoreError
from monitor.web.api import Api
from monitor.web.auth import Access, Refusal
from monitor.web.context import BadParameter, NotFound, Unavailable, Web
from monitor.web.pages import Pages

log = logging.getLogger("monitor.web")

FORM_LIMIT = 4096          # bytes of a button's form post
# What the pages may load and do: nothing but their own inline style and forms.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'; "
                                 b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    # Links to outlets say nothing of this page; "no-referrer" would also make the
    # browser send "Origin: null" with the page's own form posts.
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]

Handler = Callable[[Request], Response]
FormHandler = Callable[[Request, Mapping[str, str]], Response]
Endpoint = Callable[[Request], Awaitable[Response]]
# The Prometheus text and its content type (monitor/metrics.py renders it).
Metrics = Callable[[], tuple[bytes, str]]


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/metrics"


class _Guard:
    """Wraps handlers in their access check; a refusal or an error is answered as JSON on
    the API, as a page elsewhere."""

    def __init__(self, access: Access, pages: Pages) -> None:
        self.access = access
        self.pages = pages

    def answer(self, request: Request, status: int, message: str,
               headers: Mapping[str, str] | None = None, **extra: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": message, **extra}, status, dict(headers or {}))
        if request.url.path in ("/healthz", "/readyz"):
            return PlainTextResponse(message + "\n", status, dict(headers or {}))
        return self.pages.error(status, message)

    def refuse(self, request: Request, refusal: Refusal) -> Response:
        return self.answer(request, refusal.status, refusal.message, refusal.headers)

    async def run(self, request: Request, handler: Handler) -> Response:
        return await run_in_threadpool(handler, request)

    def read(self, handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            refusal = self.access.read(request)
            return self.refuse(request, refusal) if refusal else await self.run(request,
                                                                                handler)
        return endpoint

    def api_write(self, handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            refusal = self.access.api_write(request)
            return self.refuse(request, refusal) if refusal else await self.run(request,
                                                                                handler)
        return endpoint

    def form(self, handler: FormHandler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            fields = await _form_fields(request)
            if fields is None:
                return self.answer(request, 413, "form too large")
            refusal = self.access.form(request, fields)
            if refusal:
                return self.refuse(request, refusal)
            return await run_in_threadpool(handler, request, fields)
        return endpoint


async def _form_fields(request: Request) -> dict[str, str] | None:
    """A urlencoded form's fields (the first value of each); None past FORM_LIMIT bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            return None
    parsed = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=20)
    return {key: values[0] for key, values in parsed.items()}


def _probes(web: Web) -> tuple[Handler, Handler]:
    def healthz(request: Request) -> Response:
        problem = web.control.liveness() if web.control else "no daemon runs beside this server"
        if problem:
            return PlainTextResponse(f"unhealthy: {problem}\n", 503)
        return PlainTextResponse("ok: the scheduler ticks\n")

    def readyz(request: Request) -> Response:
        try:
            web.store.ping()
        except StoreError as exc:
            return PlainTextResponse(f"not ready: the database does not answer: {exc}\n", 503)
        return PlainTextResponse("ok: the database answers\n")

    return healthz, readyz


def _metrics_handler(metrics: Metrics) -> Handler:
    def handler(request: Request) -> Response:
        body, content_type = metrics()
        return Response(body, media_type=content_type)
    return handler


def create_app(web: Web, settings: HttpSettings, *, metrics: Metrics | None = None,
               csrf: str | None = None) -> Starlette:
    """The application serving ``web`` as ``settings`` allow: every route of the HTTP face.

    ``metrics``: renders the Prometheus text; given, ``GET /metrics`` serves it (a read).
    ``csrf``: the token of the page's forms (default: a new random one per process).
    """
    csrf = csrf or secrets.token_urlsafe(32)
    pages, api = Pages(web, csrf), Api(web)
    guard = _Guard(Access(settings, csrf), pages)
    healthz, readyz = _probes(web)
    routes = [
        Route("/", guard.read(pages.status)),
        Route("/sources/{name:path}", guard.read(pages.source)),
        Route("/actions/retry", guard.form(pages.retry), methods=["POST"]),
        Route("/actions/poll", guard.form(pages.poll), methods=["POST"]),
        Route("/api/v1/sources", guard.read(api.sources)),
        Route("/api/v1/sources/{name:path}/poll", guard.api_write(api.poll), methods=["POST"]),
        Route("/api/v1/sources/{name:path}", guard.read(api.source)),
        Route("/api/v1/stories", guard.read(api.stories)),
        Route("/api/v1/deliveries", guard.read(api.deliveries)),
        Route("/api/v1/deliveries/{id}/retry", guard.api_write(api.retry), methods=["POST"]),
        Route("/healthz", guard.read(healthz)),
        Route("/readyz", guard.read(readyz)),
    ]
    if metrics is not None:
        routes.append(Route("/metrics", guard.read(_metrics_handler(metrics))))
    app = Starlette(routes=routes, exception_handlers=_error_handlers(guard))
    app.add_middleware(_SecurityHeaders)
    return app


def _error_handlers(guard: _Guard) -> dict[type[Exception] | int, Callable[..., Response]]:
    def bad_parameter(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadParameter)
        return guard.answer(request, 400, str(exc), parameter=exc.parameter)

    def not_found(request: Request, exc: Exception) -> Response:
        return guard.answer(request, 404, str(exc))

    def unavailable(request: Request, exc: Exception) -> Response:
        return guard.answer(request, 503, str(exc))

    def store_error(request: Request, exc: Exception) -> Response:
        log.error("http: %s %s: %s", request.method, request.url.path, exc)
        return guard.answer(request, 503, f"the database failed: {exc}")

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: "no such page", 405: "method not allowed"}.get(exc.status_code,
                                                                       exc.detail)
        return guard.answer(request, exc.status_code, message, exc.headers)

    return {BadParameter: bad_parameter, NotFound: not_found, Unavailable: unavailable,
            StoreError: store_error, HTTPException: http_error}


class _SecurityHeaders:
    """Adds SECURITY_HEADERS to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
