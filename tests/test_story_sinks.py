"""No story is a sink: grants and refusals by different states reach the webhook as their own
stories, even while a story naming no state is open and reads alike.

Real parts: feeds and a webhook receiver on loopback, a SQLite file, the pipeline's polls.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.app import App, build_app
from monitor.config import load_config_data
from tests.fakes import FixedClock
from tests.loopback import LoopbackHTTPServer, Response, RssFeed

HOOK = "/hook"
# Thirty states, and two ways of saying each will not recognise the Taliban (our own words).
STATES = ("Norway", "Chile", "Kenya", "Vietnam", "Portugal", "Mongolia", "Ghana", "Peru",
          "Nepal", "Latvia", "Ireland", "Austria", "Brazil", "Argentina", "Senegal", "Jamaica",
          "Fiji", "Finland", "Canada", "Mexico", "Colombia", "Tunisia", "Morocco", "Nigeria",
          "Sri Lanka", "Thailand", "Malaysia", "Ecuador", "Uruguay", "Botswana")
REFUSALS = ("{s} will not recognise the Taliban government, foreign minister says",
            "{s} says it will not recognise the Taliban administration in Kabul")
# A refusal naming no state, open before the states speak: the shape of the reported sink.
NAMELESS_REFUSAL = "Governments say they will not recognise the Taliban government yet"
NAMELESS_GRANT = "An unnamed government formally recognises the Taliban, Kabul says"
GRANT = "{s} formally recognises the Taliban government and accepts its ambassador"


class Feed(RssFeed):
    """A feed whose headlines the test sets between polls; each is its own guid."""

    def __init__(self, server: LoopbackHTTPServer, path: str) -> None:
        super().__init__(server, path)
        self.titles: list[str] = []

    def entries(self) -> list[tuple[str, str]]:
        return [(title, title) for title in self.titles]


@pytest.fixture()
def server():
    with LoopbackHTTPServer() as http:
        http.route(HOOK, Response(204))
        yield http


def make_app(tmp_path: Path, server: LoopbackHTTPServer, feeds: dict[str, Feed]) -> App:
    config = load_config_data({
        "monitor": {"database": str(tmp_path / "m.db"), "min_host_interval": "0s"},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": name, "url": feed.url} for name, feed in feeds.items()],
        "notifiers": [{"name": "desk", "type": "webhook", "url": server.url(HOOK)}]})
    return build_app(config, clock=FixedClock())


def poll_all(app: App) -> None:
    for source in app.config.sources:
        outcome = app.pipeline.poll(source)
        assert outcome.status in ("ok", "unchanged"), outcome


def alerted(app: App, server: LoopbackHTTPServer) -> list[dict]:
    """Deliver what is due; every story the webhook has received so far."""
    app.deliverer.flush_all()
    return [story for request in server.requests_to(HOOK)
            for story in json.loads(request.body)["stories"]]


def test_thirty_states_refusing_in_one_poll_are_thirty_stories(tmp_path: Path,
                                                                server) -> None:
    early, wire = Feed(server, "/early.xml"), Feed(server, "/wire.xml")
    app = make_app(tmp_path, server, {"early": early, "wire": wire})
    try:
        early.titles = [NAMELESS_REFUSAL]
        poll_all(app)
        wire.titles = [REFUSALS[n % 2].format(s=state) for n, state in enumerate(STATES)]
        poll_all(app)
        stories = alerted(app, server)
    finally:
        app.close()
    assert len(stories) == 31
    by_actor = {tuple(s["actors"]): s for s in stories}
    assert set(by_actor) == {(state,) for state in STATES} | {()}
    assert {s["category"] for s in stories} == {"recognition_refused_or_debated"}


def test_thirty_states_refusing_over_several_feeds_are_thirty_stories(tmp_path: Path,
                                                                      server) -> None:
    feeds = {f"outlet{n}": Feed(server, f"/outlet{n}.xml") for n in range(5)}
    app = make_app(tmp_path, server, feeds)
    try:
        feeds["outlet0"].titles = [NAMELESS_REFUSAL]
        poll_all(app)
        for n, state in enumerate(STATES):
            # each state's refusal from two outlets, in both wordings: one story each
            for copy in range(2):
                feeds[f"outlet{(n + copy) % 5}"].titles.append(
                    REFUSALS[(n + copy) % 2].format(s=state))
        poll_all(app)
        stories = alerted(app, server)
        sources = dict(app.store._query("SELECT s.actors, COUNT(*) FROM stories s JOIN "
                                        "story_items si ON si.story_id = s.id GROUP BY s.id"))
    finally:
        app.close()
    assert sorted(tuple(s["actors"]) for s in stories) == sorted(
        [(state,) for state in STATES] + [()])
    assert all(sources[json.dumps([state])] == 2 for state in STATES)


def test_grants_by_five_states_are_not_absorbed_by_a_nameless_story(tmp_path: Path,
                                                                     server) -> None:
    """The reported failure: one extra feed's grants, a poll apart, each alike the open
    story naming no state."""
    wire, extra = Feed(server, "/wire.xml"), Feed(server, "/extra.xml")
    app = make_app(tmp_path, server, {"wire": wire, "extra": extra})
    try:
        wire.titles = [NAMELESS_GRANT, NAMELESS_REFUSAL]
        poll_all(app)
        for state in ("Liechtenstein", "Iceland", "Estonia", "Latvia", "Lithuania"):
            extra.titles.append(GRANT.format(s=state))
            poll_all(app)
        stories = alerted(app, server)
    finally:
        app.close()
    grants = {tuple(s["actors"]) for s in stories if s["category"] == "recognition_granted"}
    assert grants == {(), ("Liechtenstein",), ("Iceland",), ("Estonia",), ("Latvia",),
                      ("Lithuania",)}


def test_a_grant_by_a_state_the_detector_cannot_name_still_alerts(tmp_path: Path,
                                                                  server) -> None:
    wire = Feed(server, "/wire.xml")
    app = make_app(tmp_path, server, {"wire": wire})
    try:
        wire.titles = [NAMELESS_REFUSAL, GRANT.format(s="Liechtenstein")]
        poll_all(app)
        assert len(alerted(app, server)) == 2
        # Alike Liechtenstein's grant (a third of the words), but nothing says it is it.
        wire.titles.append("An unnamed European state recognises the Taliban government")
        poll_all(app)
        stories = alerted(app, server)
    finally:
        app.close()
    assert len(stories) == 3
    unnamed = stories[-1]
    assert unnamed["title"] == "An unnamed European state recognises the Taliban government"
    assert unnamed["category"] == "recognition_granted"
    assert unnamed["actors"] == []
    assert "unknown" in json.dumps(unnamed)
