"""Prometheus metrics (monitor/metrics.py) moving as real polls and deliveries happen.

Feeds and webhook receivers run on loopback; the store is a real SQLite file. The text
that `GET /metrics` serves (``Metrics.render``) is read back with prometheus_client's
own parser.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter as Tally
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.app import App, build_app
from monitor.config import load_config_data
from monitor.decide import healths
from monitor.deliver import Deliverer
from monitor.metrics import HEALTHS, Metrics
from monitor.scheduler import Daemon, poll_sources
from monitor.types import Digest, HealthFacts, PollOutcome, SourceState
from tests.fakes import FixedClock, temp_store
from tests.loopback import LoopbackHTTPServer, RecordedRequest, Response, wait_for

TOPIC = "taliban-recognition"
STEP = "Kazakhstan accepts credentials of Taliban-appointed ambassador"   # recognition_step
DECOY = "Relief convoys reach villages hit by the Kunar earthquake"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def rss(*titles: str) -> bytes:
    items = "".join(f"<item><guid>g{n}</guid><title>{t}</title>"
                    f"<link>https://wire.example/{n}</link></item>"
                    for n, t in enumerate(titles))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{items}'
            f"</channel></rss>").encode()


def scrape(app: App) -> Samples:
    """Every sample of one scrape: (name, labels) -> value."""
    assert app.metrics is not None
    body, content_type = app.metrics.render()
    assert content_type.startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; the series must exist (a missing one is a failure, not 0)."""
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no series {name}{labels} in the scrape"
    return samples[key]


class Webhook:
    """A receiver that answers each POST with the next status of ``statuses`` (the last
    one repeated)."""

    def __init__(self, server: LoopbackHTTPServer, path: str, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.url = server.url(path)
        server.route(path, self._answer)

    def _answer(self, _request: RecordedRequest) -> Response:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return Response(status, b"")


def conditional(body: bytes, etag: str = '"v1"'):  # noqa: ANN201 - a route handler
    def answer(request: RecordedRequest) -> Response:
        if request.headers.get("If-None-Match") == etag:
            return Response(304)
        return Response(body=body, headers={"ETag": etag,
                                            "Content-Type": "application/rss+xml"})
    return answer


def make_app(tmp_path: Path, server: LoopbackHTTPServer, clock: FixedClock | None = None,
             *, hooks: dict[str, str], broken: bool = True) -> App:
    sources = [{"name": "wire", "url": server.url("/wire.rss")}]
    if broken:
        sources.append({"name": "broken", "url": server.url("/broken.rss")})
    config = load_config_data({
        "monitor": {"database": str(tmp_path / "m.db"), "min_host_interval": "0s",
                    "poll_interval": "10m"},
        "topics": [{"name": TOPIC, "event": "recognition"}],
        "sources": sources,
        "notifiers": [{"name": name, "type": "webhook", "url": url}
                      for name, url in hooks.items()]})
    return build_app(config, clock=clock) if clock else build_app(config)


@pytest.fixture()
def server():
    with LoopbackHTTPServer() as http:
        yield http


def test_polls_and_deliveries_move_the_metrics(tmp_path: Path, server) -> None:
    server.route("/wire.rss", conditional(rss(STEP, DECOY)))
    server.route("/broken.rss", Response(500, b"oops"))
    hook = Webhook(server, "/hook", 500, 204)          # fails once, then takes it
    dead = Webhook(server, "/dead", 400)               # refuses for good: dead-lettered
    clock = FixedClock(datetime(2025, 7, 3, 12, 0, tzinfo=UTC))
    app = make_app(tmp_path, server, clock, hooks={"hook": hook.url, "dead-hook": dead.url})
    try:
        before = scrape(app)
        assert value(before, "monitor_polls_total", result="ok") == 0
        assert value(before, "monitor_last_cycle_timestamp_seconds") == 0
        assert value(before, "monitor_sources", health="new") == 2

        poll_sources(app, app.config.sources)
        first_seen = clock.now
        after_poll = scrape(app)
        assert value(after_poll, "monitor_polls_total", result="ok") == 1
        assert value(after_poll, "monitor_polls_total", result="error") == 1
        assert value(after_poll, "monitor_polls_total", result="not_modified") == 0
        assert value(after_poll, "monitor_items_new_total") == 2
        assert value(after_poll, "monitor_stories_total", topic=TOPIC,
                     category="recognition_step") == 1
        assert value(after_poll, "monitor_fetch_duration_seconds_count") == 2
        assert value(after_poll, "monitor_fetch_duration_seconds_sum") > 0
        assert value(after_poll, "monitor_sources", health="failing") == 1
        assert value(after_poll, "monitor_sources", health="ok") == 1
        assert value(after_poll, "monitor_sources", health="new") == 0
        assert value(after_poll, "monitor_last_cycle_timestamp_seconds") == \
            clock.now.timestamp()

        clock.advance(timedelta(seconds=10))
        app.deliverer.flush_all()
        failed = scrape(app)
        assert value(failed, "monitor_delivery_attempts_total", notifier="hook",
                     result="failed") == 1
        assert value(failed, "monitor_delivery_attempts_total", notifier="hook",
                     result="ok") == 0
        assert value(failed, "monitor_delivery_attempts_total", notifier="dead-hook",
                     result="dead") == 1
        assert value(failed, "monitor_deliveries", notifier="hook", state="failed") == 1
        assert value(failed, "monitor_deliveries", notifier="dead-hook", state="dead") == 1
        assert value(failed, "monitor_deliveries", notifier="hook", state="dead") == 0
        assert value(failed, "monitor_alert_latency_seconds_count") == 0

        clock.advance(timedelta(minutes=20))
        poll_sources(app, app.config.sources)
        app.deliverer.flush_all()
        later = scrape(app)
        assert value(later, "monitor_polls_total", result="not_modified") == 1
        assert value(later, "monitor_polls_total", result="ok") == 1
        assert value(later, "monitor_polls_total", result="error") == 2
        assert value(later, "monitor_items_new_total") == 2
        assert value(later, "monitor_delivery_attempts_total", notifier="hook",
                     result="ok") == 1
        assert value(later, "monitor_deliveries", notifier="hook", state="failed") == 0
        assert value(later, "monitor_deliveries", notifier="dead-hook", state="dead") == 1
        # One story, first seen at the first poll, accepted by the hook 20m10s later.
        assert value(later, "monitor_alert_latency_seconds_count") == 1
        assert value(later, "monitor_alert_latency_seconds_sum") == pytest.approx(
            (clock.now - first_seen).total_seconds())
        assert value(later, "monitor_alert_latency_seconds_bucket", le="600.0") == 0
        assert value(later, "monitor_alert_latency_seconds_bucket", le="1800.0") == 1
        assert value(later, "monitor_last_cycle_timestamp_seconds") == \
            clock.now.timestamp()
    finally:
        app.close()


def test_the_daemon_feeds_the_metrics(tmp_path: Path, server) -> None:
    server.route("/wire.rss", conditional(rss(STEP)))
    hook = Webhook(server, "/hook", 204)
    app = make_app(tmp_path, server, hooks={"hook": hook.url}, broken=False)
    daemon = Daemon(app)
    started = datetime.now(UTC).timestamp()
    stopper = threading.Timer(30, daemon.stopping.set)   # never left running on a failure
    stopper.start()
    try:
        daemon.start()
        wait_for(lambda: value(scrape(app), "monitor_delivery_attempts_total",
                               notifier="hook", result="ok") == 1, timeout=20)
        samples = scrape(app)
        assert value(samples, "monitor_polls_total", result="ok") == 1
        assert value(samples, "monitor_stories_total", topic=TOPIC,
                     category="recognition_step") == 1
        assert value(samples, "monitor_alert_latency_seconds_count") == 1
        assert value(samples, "monitor_last_cycle_timestamp_seconds") >= int(started)
    finally:
        stopper.cancel()
        daemon.stop(grace=5)
        app.close()


def test_the_sources_gauge_counts_each_health_as_status_does(tmp_path: Path,
                                                             database: str) -> None:
    now = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
    names = ["fresh", "fine", "down", "gone", "quiet", "unpolled"]
    store = temp_store(tmp_path, [(n, f"https://x.example/{n}") for n in names], now, database)
    polled = now - timedelta(minutes=5)
    states = [
        SourceState("fine", "https://x.example/fine", last_success_at=polled,
                    first_polled_at=polled, last_new_item_at=polled),
        SourceState("down", "https://x.example/down", consecutive_failures=3,
                    failing_since=now - timedelta(hours=1), last_error="FetchError: HTTP 500"),
        SourceState("gone", "https://x.example/gone", consecutive_failures=1, gone=True),
        SourceState("quiet", "https://x.example/quiet", last_success_at=polled,
                    first_polled_at=now - timedelta(days=30),
                    last_new_item_at=now - timedelta(days=10)),
        SourceState("fresh", "https://x.example/fresh"),
    ]
    store.record_states(states)
    intervals = {n: timedelta(minutes=10) for n in names}
    intervals["not-stored"] = timedelta(minutes=10)   # configured, never synced: new too
    metrics = Metrics(store, intervals, notifiers=["mail"], clock=lambda: now)
    try:
        body = metrics.render()[0].decode()
        samples = {s.labels["health"]: s.value
                   for f in text_string_to_metric_families(body) if f.name == "monitor_sources"
                   for s in f.samples}
        assert samples == {"new": 3, "ok": 1, "failing": 1, "flooding": 0, "silent": 1,
                           "gone": 1}
    finally:
        store.close()


def test_two_apps_keep_their_own_counts(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = temp_store(tmp_path / "a")
    second = temp_store(tmp_path / "b")
    try:
        one = Metrics(first, {}, notifiers=[], clock=lambda: datetime.now(UTC))
        two = Metrics(second, {}, notifiers=[], clock=lambda: datetime.now(UTC))
        one.cycle_done(datetime(2025, 7, 3, tzinfo=UTC))
        assert b"monitor_last_cycle_timestamp_seconds 1.7515" in one.render()[0]
        assert b"monitor_last_cycle_timestamp_seconds 0.0" in two.render()[0]
    finally:
        first.close()
        second.close()


# -- a watcher's bug never stops a poll or a delivery ----------------------------------


class BrokenObserver:
    """A watcher with a bug: every call raises (the Observer contract says it must not)."""

    def __init__(self) -> None:
        self.calls: Tally[str] = Tally()

    def poll_done(self, outcome: PollOutcome) -> None:
        self.calls["poll_done"] += 1
        raise RuntimeError("observer bug in poll_done")

    def delivery_attempted(self, digest: Digest, result: str, at: datetime) -> None:
        self.calls["delivery_attempted"] += 1
        raise RuntimeError("observer bug in delivery_attempted")

    def cycle_done(self, at: datetime) -> None:
        self.calls["cycle_done"] += 1
        raise RuntimeError("observer bug in cycle_done")


def observer_records(caplog: pytest.LogCaptureFixture, method: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "monitor.observer" and method in r.message]


def test_a_failing_observer_does_not_stop_the_polls(tmp_path: Path, server,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    server.route("/wire.rss", conditional(rss(STEP, DECOY)))
    server.route("/broken.rss", Response(500, b"oops"))
    clock = FixedClock(datetime(2025, 7, 3, 12, 0, tzinfo=UTC))
    app = make_app(tmp_path, server, clock, hooks={})
    broken = BrokenObserver()
    app.metrics = broken  # type: ignore[assignment]
    caplog.set_level(logging.DEBUG, logger="monitor.observer")
    try:
        outcomes = poll_sources(app, app.config.sources)
        assert sorted(o.source for o in outcomes) == ["broken", "wire"]
        assert app.store.source_state("wire").last_success_at == clock.now   # committed
        assert broken.calls == {"poll_done": 2, "cycle_done": 1}
        clock.advance(timedelta(minutes=20))
        assert len(poll_sources(app, app.config.sources)) == 2
    finally:
        app.close()
    # The first failure of each method: a WARNING with its traceback; the next ones DEBUG.
    polls = observer_records(caplog, "poll_done")
    assert [r.levelno for r in polls] == [logging.WARNING, logging.DEBUG, logging.DEBUG,
                                          logging.DEBUG]
    assert polls[0].exc_info is not None and "observer bug in poll_done" in caplog.text
    assert [r.levelno for r in observer_records(caplog, "cycle_done")] == [logging.WARNING,
                                                                           logging.DEBUG]


def test_a_failing_observer_does_not_stop_the_deliveries(tmp_path: Path, server,
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    server.route("/wire.rss", conditional(rss(STEP)))
    hook = Webhook(server, "/hook", 204)
    clock = FixedClock(datetime(2025, 7, 3, 12, 0, tzinfo=UTC))
    app = make_app(tmp_path, server, clock, hooks={"hook": hook.url}, broken=False)
    broken = BrokenObserver()
    deliverer = Deliverer(app.store, app.notifiers, {n.name: n for n in app.config.notifiers},
                          clock, observer=broken)
    try:
        for n in range(3):
            app.store.add_delivery(Digest(f"notice-{n}", "hook", clock.now, (), kind="test",
                                          text=f"notice {n}"), clock.now)
        [outcome] = deliverer.flush_all()
        assert (outcome.sent, outcome.failed, outcome.dead, outcome.errors) == (3, 0, 0, ())
        assert len(server.requests_to("/hook")) == 3
        assert broken.calls == {"delivery_attempted": 3}
        assert app.store.delivery_rows(("pending", "sending", "failed", "dead")) == []
    finally:
        app.close()
    assert [r.levelno for r in observer_records(caplog, "delivery_attempted")][:1] == \
        [logging.WARNING]


def test_a_failing_observer_does_not_stop_the_daemon(tmp_path: Path, server) -> None:
    server.route("/wire.rss", conditional(rss(STEP)))
    hook = Webhook(server, "/hook", 204)
    app = make_app(tmp_path, server, hooks={"hook": hook.url}, broken=False)
    app.metrics = BrokenObserver()  # type: ignore[assignment]
    daemon = Daemon(app)
    stopper = threading.Timer(30, daemon.stopping.set)   # never left running on a failure
    stopper.start()
    try:
        daemon.start()
        # The poll's story reaches the immediate webhook, and the ticks still count as
        # alive (GET /healthz) though every cycle_done raised.
        wait_for(lambda: server.requests_to("/hook"), timeout=20)
        assert daemon.liveness() is None
        assert [p.status for p in daemon.recent_polls.recent("wire")] == ["ok"]
    finally:
        stopper.cancel()
        daemon.stop(grace=5)
        app.close()


def test_a_scrape_counts_the_deliveries_without_reading_them(tmp_path: Path,
                                                             database: str) -> None:
    """Dead deliveries are kept until retried: a scrape must not read each one (nor its
    payload) under the store's lock, only count them."""
    now = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
    store = temp_store(tmp_path, [("wire", "https://x.example/wire")], now, database)
    for n in range(40):
        digest = Digest(f"d{n}", "mail", now, (), kind="test", text="notice")
        store.add_delivery(digest, now)
        store.mark_dead(digest.id, "HTTP 400", now)
    reads: list[tuple[str, int]] = []
    original = store._query

    def recorded(sql: str, params=()):  # noqa: ANN001, ANN202 - the store's own _query
        rows = original(sql, params)
        reads.append((sql, len(rows)))
        return rows

    store._query = recorded  # type: ignore[method-assign]
    metrics = Metrics(store, {"wire": timedelta(minutes=10)}, notifiers=["mail"],
                      clock=lambda: now)
    try:
        body = metrics.render()[0].decode()
        assert 'monitor_deliveries{notifier="mail",state="dead"} 40.0' in body
        deliveries = [(sql, n) for sql, n in reads if "deliveries" in sql]
        assert deliveries and all("payload" not in sql and n < 40 for sql, n in deliveries), \
            deliveries
    finally:
        store.close()


def health_cases(now: datetime) -> list[SourceState]:
    """One source of each verdict, and a few on its edges."""
    polled = now - timedelta(minutes=5)
    return [
        SourceState("fresh", "https://x.example/fresh"),
        SourceState("fine", "https://x.example/fine", last_success_at=polled,
                    first_polled_at=polled, last_new_item_at=polled, etag='"e"'),
        SourceState("down", "https://x.example/down", consecutive_failures=3,
                    last_success_at=polled, failing_since=now - timedelta(hours=1),
                    last_error="FetchError: HTTP 500", last_error_kind="fetch"),
        SourceState("gone", "https://x.example/gone", consecutive_failures=1, gone=True),
        SourceState("quiet", "https://x.example/quiet", last_success_at=polled,
                    first_polled_at=now - timedelta(days=30),
                    last_new_item_at=now - timedelta(days=10)),
        SourceState("never-new", "https://x.example/never-new", last_success_at=polled,
                    first_polled_at=now - timedelta(days=4)),
        SourceState("flood", "https://x.example/flood", last_success_at=polled,
                    first_polled_at=polled, flooding_since=now - timedelta(hours=1),
                    last_new=400, new_per_poll=2.0),
    ]


def test_the_sources_gauge_reads_only_what_health_decides_on(tmp_path: Path,
                                                             database: str) -> None:
    """The gauge's narrow read (Store.source_health_facts) gives each source the verdict
    its whole state gives, through the same decide.health."""
    now = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
    states = health_cases(now)
    store = temp_store(tmp_path, [(s.name, s.url) for s in states], now, database)
    try:
        store.record_states(states)
        intervals = {s.name: timedelta(minutes=10) for s in states}
        facts = store.source_health_facts()
        assert facts == [HealthFacts.of(s) for s in store.source_states()]
        assert healths(intervals, facts, now) == healths(intervals, states, now)
        assert set(healths(intervals, facts, now).values()) == set(HEALTHS)
    finally:
        store.close()
