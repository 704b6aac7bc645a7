"""The JSON API (contract, versioned under /api/v1/).

The same records and shapes as the command line: a source as in `monitor status --json`
(its page adds its detail, latest items, open incidents and polls), a story as in the
webhook body, a delivery as in `monitor deliveries --json`. Handlers are plain functions
run in a worker thread (the store blocks); bad parameters raise BadParameter (400),
unknown names NotFound (404).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast, get_args

from starlette.requests import Request
from starlette.responses import JSONResponse

from monitor.config import parse_duration
from monitor.digest import NAME_LIMIT, TITLE_LIMIT, iso_utc, one_line, shown_link, story_payload
from monitor.outbox import Outbox
from monitor.report import delivery_json, newest_first, source_json
from monitor.types import CATEGORIES, DeliveryStatus, SourceState, StoredItem
from monitor.web.context import BadParameter, NotFound, Unavailable, Web

log = logging.getLogger("monitor.web")

SINCE_DEFAULT = "7d"
WAITING: tuple[DeliveryStatus, ...] = ("pending", "sending", "failed", "dead")
SOURCE_ITEMS = 50          # the latest items a source's page lists


def query(request: Request, known: Sequence[str]) -> dict[str, str]:
    """The query's parameters, each given once; an empty value counts as absent. An
    unknown parameter is refused (a misspelt filter must not pass silently)."""
    params = request.query_params
    for key in params:
        if key not in known:
            raise BadParameter(key, "unknown parameter; known: "
                                    + (", ".join(known) or "none"))
        if len(params.getlist(key)) > 1:
            raise BadParameter(key, "given more than once")
    return {key: value for key, value in params.items() if value.strip()}


def _detail(state: SourceState) -> dict[str, Any]:
    """What a source's own page adds to its entry of the list."""
    return {"last_error_at": iso_utc(state.last_error_at),
            "last_error_kind": state.last_error_kind,
            "failing_since": iso_utc(state.failing_since),
            "first_polled_at": iso_utc(state.first_polled_at),
            "last_new_item_at": iso_utc(state.last_new_item_at),
            "last_items": state.last_items, "last_new": state.last_new,
            "usual_new_per_poll": round(state.new_per_poll, 2),
            "flooding_since": iso_utc(state.flooding_since), "gone": state.gone}


def item_json(item: StoredItem) -> dict[str, Any]:
    return {"id": item.id, "title": one_line(item.title, TITLE_LIMIT),
            "url": shown_link(item.url), "published": iso_utc(item.published),
            "first_seen": iso_utc(item.first_seen), "alerted": item.alert,
            "stories": [{"topic": m.topic, "id": m.story_id, "alerted": m.alerted}
                        for m in item.matches]}


class Api:
    """The handlers of /api/v1/, over one Web context."""

    def __init__(self, web: Web) -> None:
        self.web = web

    def sources(self, request: Request) -> JSONResponse:
        query(request, ())
        web, now = self.web, self.web.clock()
        states = {s.name: s for s in web.store.source_states()}
        return JSONResponse({"sources": [
            source_json(s, states.get(s.name), now, web.config.interval(s))
            for s in web.config.sources]})

    def source(self, request: Request) -> JSONResponse:
        query(request, ())
        web, now = self.web, self.web.clock()
        source = web.source(request.path_params["name"])
        state = web.store.source_state(source.name)
        document = {**source_json(source, state, now, web.config.interval(source)),
                    **_detail(state)}
        document["incidents"] = [
            {"kind": i.kind, "opened_at": iso_utc(i.opened_at), "detail": i.detail,
             "alerted": sorted(i.alerted)} for i in web.store.open_incidents(source.name)]
        document["items"] = [item_json(i)
                             for i in web.store.source_items(source.name, SOURCE_ITEMS)]
        polls = web.control.recent_polls.recent(source.name) if web.control else []
        document["polls"] = [{"at": iso_utc(p.at), "status": p.status, "items": p.items,
                              "new": p.new, "matched": p.matched,
                              "duration": round(p.duration, 3), "error": p.error}
                             for p in polls]
        return JSONResponse({"source": document})

    def stories(self, request: Request) -> JSONResponse:
        params = query(request, ("since", "topic", "category"))
        try:
            since = parse_duration(params.get("since", SINCE_DEFAULT))
        except ValueError as exc:
            raise BadParameter("since", str(exc)) from None
        topic, category = params.get("topic"), params.get("category")
        topics = [t.name for t in self.web.config.topics]
        if topic is not None and topic not in topics:
            raise BadParameter("topic", f"no topic named {one_line(topic, NAME_LIMIT)!r}; "
                                        f"known: {', '.join(topics)}")
        if category is not None and category not in CATEGORIES:
            raise BadParameter("category", f"must be one of {', '.join(CATEGORIES)}")
        stories = [s for s in self.web.store.matches(self.web.clock() - since)
                   if topic in (None, s.topic) and category in (None, s.category)]
        return JSONResponse({"stories": [story_payload(s) for s in newest_first(stories)]})

    def deliveries(self, request: Request) -> JSONResponse:
        params = query(request, ("state",))
        statuses = get_args(DeliveryStatus)
        wanted = [s.strip() for s in params.get("state", ",".join(WAITING)).split(",")]
        for state in wanted:
            if state not in statuses:
                raise BadParameter("state", f"{one_line(state, NAME_LIMIT)!r} is not a "
                                            f"delivery state; use {', '.join(statuses)} "
                                            f"(several separated by commas)")
        rows = self.web.store.delivery_rows(cast(list[DeliveryStatus], wanted))
        return JSONResponse({"deliveries": [delivery_json(r) for r in rows]})

    def retry(self, request: Request) -> JSONResponse:
        query(request, ())
        digest_id = request.path_params["id"]
        retry_delivery(self.web, digest_id)
        return JSONResponse({"id": digest_id, "message": "made due now; the daemon attempts "
                                                         "it within seconds"}, status_code=202)

    def poll(self, request: Request) -> JSONResponse:
        query(request, ())
        name = poll_source(self.web, request.path_params["name"])
        return JSONResponse({"source": name, "message": "the daemon polls it within "
                                                        "2 seconds"}, status_code=202)


def retry_delivery(web: Web, digest_id: str) -> None:
    """Make a waiting delivery due now and tell the daemon; NotFound when none has that id
    (unknown, or delivered already). The API and the page's button both come here."""
    if not Outbox(web.store).retry(digest_id, web.clock()):
        raise NotFound(f"no delivery {one_line(digest_id, NAME_LIMIT)!r} is waiting to be "
                       "sent (unknown id, or delivered already)")
    log.info("http: delivery %s made due now", one_line(digest_id, NAME_LIMIT))
    if web.control is not None:
        web.control.deliver_now()


def poll_source(web: Web, name: str) -> str:
    """Ask the daemon to poll a source now; NotFound for a name the config does not have,
    Unavailable when no daemon runs here. Returns the source's name."""
    source = web.source(name)
    if web.control is None or not web.control.poll_now(source.name):
        raise Unavailable("no daemon runs beside this server to poll the source")
    log.info("http: poll of source %r asked for", source.name)
    return source.name
