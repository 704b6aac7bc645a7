"""The HTML pages: the status page (GET /), the page of one source, and the two buttons.

Server-rendered with Jinja2, autoescape always on: every feed text, error message and
source name is escaped (and cleaned to one line first by monitor.web.views). No script, no
external asset; the page reloads itself every REFRESH_SECONDS. Handlers are plain
functions run in a worker thread (the store blocks).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from monitor.digest import seconds_utc
from monitor.web import views
from monitor.web.api import SOURCE_ITEMS, WAITING, poll_source, query, retry_delivery
from monitor.web.auth import CSRF_FIELD
from monitor.web.context import BadParameter, Web

REFRESH_SECONDS = 30
STORIES_SINCE = timedelta(days=7)
STORIES_SHOWN = 50
OK_SOURCES_SHOWN = 200      # beyond the sources needing a person; ?sources=all shows all
NOTICES = {
    "retried": "The delivery was made due now: the daemon attempts it within seconds.",
    "polled": "The source is polled within 2 seconds; this page shows it at its next "
              "refresh.",
}


def environment() -> jinja2.Environment:
    """The pages' templates (monitor/templates/web), every value HTML-escaped."""
    return jinja2.Environment(loader=jinja2.PackageLoader("monitor", "templates/web"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def _next_page(value: str | None) -> str:
    """Where a button sends the browser back: the status page or a source's page, never
    another site."""
    if value and (value == "/" or value.startswith("/sources/")) and "//" not in value \
            and "\\" not in value:
        return value
    return "/"


class Pages:
    def __init__(self, web: Web, csrf: str) -> None:
        self.web = web
        self.csrf = csrf
        self._env = environment()

    def _render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        page = {"refresh": None, "notice": None, **context}
        html = self._env.get_template(template).render(
            generated=seconds_utc(self.web.clock()), csrf_field=CSRF_FIELD, csrf=self.csrf,
            **page)
        return HTMLResponse(html, status_code=status)

    def error(self, status: int, message: str) -> HTMLResponse:
        return self._render("error.html", status, message=message)

    def status(self, request: Request) -> HTMLResponse:
        params = query(request, ("sources", "done"))
        show_all = params.get("sources") == "all"
        if params.get("sources") not in (None, "all"):
            raise BadParameter("sources", "use sources=all, or leave it out")
        web, now = self.web, self.web.clock()
        config = web.config
        sources = views.source_list(
            ((s.name, s.url, config.interval(s)) for s in config.sources),
            web.store.source_states(), now, None if show_all else OK_SOURCES_SHOWN)
        nodes = list(web.nodes()) if web.nodes is not None else []
        deliveries = views.delivery_rows(web.store.delivery_rows(WAITING), now)
        return self._render(
            "status.html", refresh=REFRESH_SECONDS, notice=NOTICES.get(params.get("done", "")),
            counts=sources.counts, total=sources.total, sources=sources.rows,
            hidden=sources.hidden,
            stories=views.latest_stories(web.store.matches(now - STORIES_SINCE),
                                         STORIES_SHOWN),
            stories_days=STORIES_SINCE.days, stories_shown=STORIES_SHOWN,
            deliveries=deliveries,
            delivery_counts=_counts(d.status for d in deliveries),
            nodes=nodes if len(nodes) > 1 else [],
            node_times={n.name: views.when(n.last_seen, now) for n in nodes})

    def source(self, request: Request) -> HTMLResponse:
        params = query(request, ("done",))
        web, now = self.web, self.web.clock()
        source = web.source(request.path_params["name"])
        state = web.store.source_state(source.name)
        polls = web.control.recent_polls.recent(source.name) if web.control else []
        return self._render(
            "source.html", refresh=REFRESH_SECONDS, notice=NOTICES.get(params.get("done", "")),
            row=views.source_row(source.name, source.url, state, now,
                                 web.config.interval(source)),
            state=state, when=lambda moment: views.when(moment, now),
            interval=views.duration(web.config.interval(source)),
            incidents=web.store.open_incidents(source.name),
            polls=views.poll_rows(polls, now), has_daemon=web.control is not None,
            items=views.item_rows(web.store.source_items(source.name, SOURCE_ITEMS), now))

    def retry(self, request: Request, fields: Mapping[str, str]) -> RedirectResponse:
        retry_delivery(self.web, fields.get("id", ""))
        return RedirectResponse(_next_page(fields.get("next")) + "?done=retried", 303)

    def poll(self, request: Request, fields: Mapping[str, str]) -> RedirectResponse:
        poll_source(self.web, fields.get("source", ""))
        return RedirectResponse(_next_page(fields.get("next")) + "?done=polled", 303)


def _counts(statuses: Any) -> list[tuple[str, int]]:
    counted: dict[str, int] = {}
    for status in statuses:
        counted[status] = counted.get(status, 0) + 1
    return sorted(counted.items())
