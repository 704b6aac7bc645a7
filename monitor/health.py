"""PURE: source-health incidents for operator notifiers: one alert per incident, one recovery.

An incident opens when a source starts failing, goes silent, floods (brings far more new
items than usual), or a page's selector stops matching. Each operator notifier is alerted
once per incident, when the incident is older than its `alert_after` (failing) or at once
(selector, silent, flooding), and receives a recovery notice when the incident closes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from monitor.decide import health
from monitor.digest import human_utc
from monitor.types import HealthChange, Incident, IncidentKind, SourceState
from monitor.urls import without_credentials

KINDS: tuple[IncidentKind, ...] = ("failing", "selector", "silent", "flooding")

# `monitor status --check` without an operator notifier: a notifier's default alert_after.
DEFAULT_ALERT_AFTER = timedelta(hours=6)


def _condition(kind: str, state: SourceState, now: datetime,
               interval: timedelta) -> datetime | None:
    """When the condition of this kind started, or None when it does not hold now."""
    selector_error = state.consecutive_failures > 0 and state.last_error_kind == "selector"
    if kind == "failing" and state.consecutive_failures > 0 and not selector_error:
        return state.failing_since
    if kind == "selector" and selector_error:
        return state.failing_since
    if kind == "silent" and health(state, now, interval) == "silent":
        return state.last_new_item_at or state.first_polled_at
    if kind == "flooding":
        return state.flooding_since
    return None


def _alert_text(kind: str, state: SourceState, since: datetime) -> str:
    if kind == "failing":
        return (f"Source {state.name!r} has been failing since {human_utc(since)} "
                f"({state.consecutive_failures} consecutive failures).\n"
                f"Last error: {state.last_error}\nURL: {without_credentials(state.url)}\n"
                f"It is still polled, with backoff; you will get a notice when it recovers.")
    if kind == "selector":
        return (f"The selectors of page source {state.name!r} stopped matching "
                f"({human_utc(since)}): the page layout has probably changed.\n"
                f"Last error: {state.last_error}\nURL: {without_credentials(state.url)}")
    if kind == "flooding":
        return (f"Source {state.name!r} is flooding since {human_utc(since)}: its last poll "
                f"brought {state.last_new} new items, against about "
                f"{state.new_per_poll:.0f} usually.\n"
                f"{state.last_capped} of them were past the poll's max_new_per_poll: recorded "
                f"as seen, not alerted. It is still polled; you will get a notice when its "
                f"volume is back to usual.\nURL: {without_credentials(state.url)}")
    return (f"Source {state.name!r} has brought nothing new since {human_utc(since)}, much longer "
            f"than its usual cadence.\nURL: {without_credentials(state.url)}")


def _recovery_text(kind: str, state: SourceState, since: datetime, now: datetime) -> str:
    what = {"failing": "works again", "selector": "matches its selectors again",
            "silent": "brings new items again",
            "flooding": "brings its usual number of new items again"}[kind]
    return (f"Recovered: source {state.name!r} {what} ({human_utc(now)}), after an incident "
            f"that began {human_utc(since)}.")


def health_changes(state: SourceState, now: datetime, interval: timedelta,
                   incidents: Sequence[Incident],
                   operators: Mapping[str, timedelta]) -> tuple[HealthChange, ...]:
    """The incident changes after a poll left the source in `state`.

    `operators` maps each operator notifier to its alert_after threshold.
    """
    if not operators:
        return ()
    open_by_kind = {i.kind: i for i in incidents}
    changes: list[HealthChange] = []
    for kind in KINDS:
        since = _condition(kind, state, now, interval)
        incident = open_by_kind.get(kind)
        if since is None:
            if incident is not None:
                told = tuple(sorted(n for n in incident.alerted if n in operators))
                changes.append(HealthChange(
                    state.name, kind, "close", incident.opened_at,
                    _recovery_text(kind, state, incident.opened_at, now) if told else "",
                    told, incident.id))
            continue
        opened_at = incident.opened_at if incident is not None else since
        if incident is None:
            changes.append(HealthChange(state.name, kind, "open", opened_at, ""))
        alerted = incident.alerted if incident is not None else frozenset()
        due = tuple(sorted(
            name for name, after in operators.items()
            if name not in alerted and (kind != "failing" or now - opened_at >= after)))
        if due:
            changes.append(HealthChange(state.name, kind, "alert", opened_at,
                                        _alert_text(kind, state, opened_at), due,
                                        incident.id if incident is not None else None))
    return tuple(changes)


# -- `monitor status --check` --------------------------------------------------


def check_limit(operators: Mapping[str, timedelta]) -> timedelta:
    """How long a source may fail before `monitor status --check` fails: the shortest
    `alert_after` of the operator notifiers (when the first of them is alerted), else the
    default `alert_after`."""
    return min(operators.values(), default=DEFAULT_ALERT_AFTER)


def failing_for(states: Iterable[SourceState], configured: Collection[str], now: datetime,
                limit: timedelta) -> tuple[list[SourceState], list[SourceState]]:
    """The configured sources whose polls fail (gone ones too): (those failing for
    ``limit`` or longer, oldest failure first; those failing for less)."""
    past: list[SourceState] = []
    recent: list[SourceState] = []
    for state in states:
        if state.name not in configured or not state.consecutive_failures:
            continue
        since = state.failing_since or now
        (past if now - since >= limit else recent).append(state)
    past.sort(key=lambda s: (s.failing_since or now, s.name))
    return past, recent
