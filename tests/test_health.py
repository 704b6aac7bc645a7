"""Source health: one operator alert per incident, and a recovery notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.app import build_app
from monitor.config import load_config_data
from monitor.health import health_changes
from monitor.types import ErrorKind, Incident, SourceState
from tests.fakes import FixedClock
from tests.loopback import LoopbackHTTPServer, Response

NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
OPS = {"ops": 6 * HOUR, "pager": 12 * HOUR}


def failing(since: datetime, error: str = "FetchError: HTTP 500",
            kind: ErrorKind = "fetch") -> SourceState:
    return SourceState(name="s", url="https://x.example/", first_polled_at=since - HOUR,
                       last_success_at=since - HOUR, consecutive_failures=4,
                       failing_since=since, last_error=error, last_status="error",
                       last_error_kind=kind)


def test_failing_source_alerts_each_operator_once_after_its_threshold() -> None:
    state = failing(NOW - 2 * HOUR)
    opened = health_changes(state, NOW, HOUR, [], OPS)
    assert [(c.kind, c.action) for c in opened] == [("failing", "open")]
    incident = Incident(1, "s", "failing", NOW - 2 * HOUR, "")
    later = health_changes(state, NOW + 5 * HOUR, HOUR, [incident], OPS)
    assert [(c.action, c.notifiers) for c in later] == [("alert", ("ops",))]
    assert "HTTP 500" in later[0].text
    told = Incident(1, "s", "failing", NOW - 2 * HOUR, "", frozenset({"ops"}))
    assert health_changes(state, NOW + 6 * HOUR, HOUR, [told], OPS) == ()
    both = health_changes(state, NOW + 11 * HOUR, HOUR, [told], OPS)
    assert [(c.action, c.notifiers) for c in both] == [("alert", ("pager",))]


def test_recovery_goes_to_those_told() -> None:
    ok = SourceState(name="s", url="u", first_polled_at=NOW - HOUR, last_success_at=NOW,
                     last_new_item_at=NOW)
    told = Incident(1, "s", "failing", NOW - 9 * HOUR, "", frozenset({"ops"}))
    [change] = health_changes(ok, NOW, HOUR, [told], OPS)
    assert (change.action, change.notifiers) == ("close", ("ops",))
    assert "Recovered" in change.text
    untold = Incident(2, "s", "failing", NOW - HOUR, "")
    [quiet] = health_changes(ok, NOW, HOUR, [untold], OPS)
    assert quiet.action == "close" and quiet.notifiers == () and quiet.text == ""


def test_selector_and_silence_alert_at_once() -> None:
    broken = failing(NOW, "SelectorError: item_selector 'article' matched nothing", "selector")
    kinds = {(c.kind, c.action) for c in health_changes(broken, NOW, HOUR, [], OPS)}
    assert kinds == {("selector", "open"), ("selector", "alert")}
    silent = SourceState(name="s", url="u", first_polled_at=NOW - 30 * 24 * HOUR,
                         last_success_at=NOW, last_new_item_at=NOW - 10 * 24 * HOUR)
    kinds = {(c.kind, c.action) for c in health_changes(silent, NOW, HOUR, [], OPS)}
    assert kinds == {("silent", "open"), ("silent", "alert")}
    assert health_changes(silent, NOW, HOUR, [], {}) == ()


def test_operator_notifier_end_to_end(tmp_path: Path, database: str) -> None:
    clock = FixedClock()
    with LoopbackHTTPServer() as http:
        http.route("/feed.xml", Response(status=500, body=b"down"))
        config = load_config_data({
            "monitor": {"database": database, "min_host_interval": "0s"},
            "topics": [{"name": "t", "event": "recognition"}],
            "sources": [{"name": "Wire", "url": http.url("/feed.xml")}],
            "notifiers": [{"name": "ops", "type": "file", "path": str(tmp_path / "ops.log"),
                           "operator": True, "alert_after": "2h"}]})
        app = build_app(config, clock=clock)
        try:
            for _ in range(6):  # failing for 2.5 hours, polled every 30 minutes
                app.pipeline.poll(config.sources[0])
                clock.now += timedelta(minutes=30)
            app.deliverer.flush_all()
            log = (tmp_path / "ops.log").read_text()
            assert log.count("delivery id") == 1  # one digest: one alert for the incident
            assert "has been failing since" in log and "HTTP 500" in log
            http.route("/feed.xml", Response(body=b'<rss version="2.0"><channel><title>W'
                                                  b'</title></channel></rss>'))
            app.pipeline.poll(config.sources[0])
            app.pipeline.poll(config.sources[0])
            app.deliverer.flush_all()
            log = (tmp_path / "ops.log").read_text()
            assert log.count("delivery id") == 2  # and one recovery notice
            assert "Recovered: source 'Wire' works again" in log
        finally:
            app.close()


def test_a_flood_alerts_at_once_and_its_end_is_a_recovery() -> None:
    flooding = SourceState(name="s", url="u", first_polled_at=NOW - HOUR, last_success_at=NOW,
                           last_new_item_at=NOW, flooding_since=NOW, last_new=900,
                           new_per_poll=2.2, last_capped=850)
    changes = health_changes(flooding, NOW, HOUR, [], OPS)
    assert [(c.kind, c.action) for c in changes] == [("flooding", "open"), ("flooding", "alert")]
    assert changes[1].notifiers == ("ops", "pager")
    assert "900 new items, against about 2 usually" in changes[1].text
    assert "850 of them" in changes[1].text
    told = Incident(1, "s", "flooding", NOW, "", frozenset({"ops", "pager"}))
    assert health_changes(flooding, NOW + HOUR, HOUR, [told], OPS) == ()
    calm = SourceState(name="s", url="u", first_polled_at=NOW - HOUR, last_success_at=NOW,
                       last_new_item_at=NOW, new_per_poll=2.4)
    [change] = health_changes(calm, NOW + 2 * HOUR, HOUR, [told], OPS)
    assert (change.kind, change.action) == ("flooding", "close")
    assert "brings its usual number of new items again" in change.text
