"""The event ledger: for each state and kind of step, the first story that reported it. PURE.

A story of the recognition topic is an *event* when its verdict names a kind of step
(``event_kind``: recognised, accepted an envoy, handed over an embassy, delisted, ...) and
acting states. For each (state, kind) the ledger keeps the first report; a later story of
the same state and kind is a follow-up of it. A story that reports a state's first step of
a kind is marked ``first`` in every alert; follow-ups say what they follow.

The ledger starts from a shipped file of the steps known when this version was made
(``classify/data/known_events.json``, each with its source), so that a new install does not
call a step of 2025 "first" again; it grows from what the monitor sees.

``plan_event`` decides, for one story being opened, its novelty and the ledger's writes;
the store reads the known entries (``KnownEvent``) and applies the writes
(monitor/plan.py turns them into intents). The ledger keeps its own copy of each report
(headline, URL, date): the stories may go to retention, the ledger stays.

One ledger serves every recognition topic: a step is the world's, not a topic's. The story
that the same report opens in a second topic is the first report there too (a report is
never its own follow-up); any other report of the step is a follow-up, whatever its topic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Literal, get_args

from monitor.types import Classification, EventKind, Novelty, StoryEvent

__all__ = ["EVENT_KINDS", "KIND_LABELS", "EventDecision", "EventReport", "KnownEvent",
           "LedgerEntry", "event_keys", "event_kind", "known_events", "plan_event"]

EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)

KIND_LABELS: dict[EventKind, str] = {
    "recognised": "recognised the Taliban government",
    "accepted_envoy": "accepted a Taliban envoy or ambassador",
    "sent_ambassador": "named an ambassador to Kabul",
    "embassy": "handed over or reopened an embassy",
    "delisted": "removed the Taliban from a list of banned organisations",
    "upgraded_ties": "upgraded or normalised ties",
    "refused": "refused recognition",
}

# The step rule that fired (monitor/classify/steps.py) -> the kind of step it reports.
_RULE_KINDS: dict[str, EventKind] = {
    "step:credentials": "accepted_envoy",
    "step:agrement": "accepted_envoy",
    "step:envoy-accepted": "accepted_envoy",
    "step:envoy-of-kabul-accepted": "accepted_envoy",
    "step:envoy-named-by": "accepted_envoy",
    "step:envoy-accepted-as": "accepted_envoy",
    "step:officials-accepted": "accepted_envoy",
    "step:ambassador-named": "sent_ambassador",
    "step:ambassador-sent": "sent_ambassador",
    "step:embassy": "embassy",
    "step:embassy-resumed": "embassy",
    "step:embassy-control": "embassy",
    "step:delisting": "delisted",
    "step:upgrade-representation": "upgraded_ties",
    "step:ties-upgrade": "upgraded_ties",
    "step:diplomatic-ties": "upgraded_ties",
}
# A negation among the verdict's modality cues or in its evidence makes a refusal, not a debate.
_REFUSAL_CUE = re.compile(r"\b(?:not|no|never|nor|without|won't|cannot|rules?\s+out|"
                          r"ruled\s+out|den(?:y|ies|ied))\b|n't\b|"
                          r"\b(?:refus|reject|declin)\w*")


def event_kind(verdict: Classification) -> EventKind | None:
    """The kind of step a matched verdict reports; None for a debate, a UN-seat dispute or
    a verdict that names no kind."""
    if not verdict.match or verdict.category is None:
        return None
    if verdict.category == "recognition_refused_or_debated":
        # The detector names the first cue it saw ("will" of "will not"): the evidence
        # sentence says whether a negation is among them.
        cues = [r.removeprefix("modality:") for r in verdict.rules if r.startswith("modality:")]
        negated = any(_REFUSAL_CUE.search(text) for text in (*cues, verdict.evidence.lower()))
        return "refused" if negated else None
    if verdict.category == "recognition_granted":
        return "recognised"
    for rule in verdict.rules:
        if rule in _RULE_KINDS:
            return _RULE_KINDS[rule]
    return None


@dataclass(frozen=True)
class KnownEvent:
    """A ledger entry: a state's first reported step of a kind."""

    state: str
    kind: EventKind
    title: str                 # the first report's headline (or the shipped file's)
    seen: datetime             # when it was first reported (the shipped file: its date)
    url: str = ""
    origin: Literal["shipped", "monitor"] = "monitor"
    source: str = ""           # the shipped file's citation

    def as_event(self) -> StoryEvent:
        return StoryEvent(self.state, self.kind, self.title, self.seen, self.url)


@dataclass(frozen=True)
class EventDecision:
    """One opened story's place in the ledger."""

    novelty: Novelty | None
    event: StoryEvent | None
    opens: tuple[KnownEvent, ...]          # new ledger entries, first reported by the story
    follows: tuple[tuple[str, EventKind], ...]   # known entries it is a follow-up of


NO_EVENT = EventDecision(None, None, (), ())


@dataclass(frozen=True)
class EventReport:
    """A report of a ledger entry, as the ledger keeps it: its story (None once retention
    deleted it), headline, URL and date."""

    story_id: int | None
    title: str
    url: str
    seen: datetime


@dataclass(frozen=True)
class LedgerEntry:
    """A ledger entry as `monitor events` lists it: the step, its first report (None when
    it came from the shipped file), and the later reports."""

    event: KnownEvent
    first: EventReport | None
    follow_ups: tuple[EventReport, ...]


def event_key(verdict: Classification) -> tuple[str, EventKind] | None:
    """The (state, kind) a verdict reports: its kind of step, taken by its first acting
    state. Only the first: the others a headline names are as often the ones acted upon or
    mentioned ("X delists the Taliban as Y recognises ...") as joint actors, and the
    ledger must not give a state a step it did not take."""
    kind = event_kind(verdict)
    if kind is None or not verdict.actors:
        return None
    return (verdict.actors[0], kind)


def plan_event(verdict: Classification, title: str, url: str, seen: datetime,
               known: Mapping[tuple[str, EventKind], KnownEvent]) -> EventDecision:
    """Novelty of a story being opened (first reported at ``seen``): ``first`` when its
    state takes this kind of step for the first time in ``known`` (the ledger, with the
    entries opened earlier in the same commit), else ``follow_up`` of that first report."""
    key = event_key(verdict)
    if key is None:
        return NO_EVENT
    if key in known:
        return EventDecision("follow_up", known[key].as_event(), (), (key,))
    entry = KnownEvent(key[0], key[1], title, seen, url)
    return EventDecision("first", entry.as_event(), (entry,), ())


def event_keys(verdicts: Sequence[Classification]) -> set[tuple[str, EventKind]]:
    """The ledger keys these verdicts may touch (what the store reads for ``plan_event``)."""
    return {key for key in map(event_key, verdicts) if key is not None}


def _kind(value: str, where: str) -> EventKind:
    for kind in EVENT_KINDS:
        if value == kind:
            return kind
    raise ValueError(f"{where}: unknown kind {value!r} (one of {', '.join(EVENT_KINDS)})")


def known_events(text: str | None = None) -> tuple[KnownEvent, ...]:
    """The shipped file of known steps (or ``text`` in its format): a JSON list of
    ``{"state", "kind", "date": "YYYY-MM-DD" (or "YYYY-MM"), "title", "source"}``."""
    if text is None:
        text = (resources.files("monitor.classify") / "data" / "known_events.json").read_text(
            encoding="utf-8")
    entries = []
    for number, row in enumerate(json.loads(text)["events"], 1):
        where = f"known event {number}"
        # "YYYY-MM" where only the month is sure: the first of the month
        date = row["date"] + ("-01" if len(row["date"]) == 7 else "")
        seen = datetime.fromisoformat(date).replace(tzinfo=UTC)
        entries.append(KnownEvent(row["state"], _kind(row["kind"], where), row["title"], seen,
                                  row.get("url", ""), "shipped", row["source"]))
    return tuple(entries)


# -- as `monitor events` shows it ----------------------------------------------

def with_shipped(entries: Sequence[LedgerEntry],
                 shipped: Sequence[KnownEvent]) -> list[LedgerEntry]:
    """The stored ledger, with the shipped entries it lacks (a database made before them,
    or none yet), in order of first report."""
    have = {(e.event.state, e.event.kind) for e in entries}
    more = [LedgerEntry(k, None, ()) for k in shipped if (k.state, k.kind) not in have]
    return sorted([*entries, *more], key=lambda e: (e.event.seen, e.event.state, e.event.kind))


def day_text(moment: datetime) -> str:
    """A ledger date: "3 Jul 2025", or "Aug 2024" for a shipped date known to the month
    (stored as the first of the month at midnight)."""
    if moment.day == 1 and (moment.hour, moment.minute, moment.second, moment.microsecond) == (
            0, 0, 0, 0):
        return f"{moment:%b %Y}"
    return f"{moment.day} {moment:%b %Y}"


def format_ledger(entries: Sequence[LedgerEntry]) -> str:
    """`monitor events`: each state's steps, their first report and the follow-ups."""
    if not entries:
        return "the event ledger is empty"
    blocks = []
    for entry in entries:
        event = entry.event
        origin = f"shipped: {event.source}" if event.origin == "shipped" else "seen by the monitor"
        lines = [f"{event.state}: {KIND_LABELS.get(event.kind, event.kind)} ({event.kind})",
                 f"  first: {day_text(event.seen)}  {event.title}  [{origin}]"]
        if event.url:
            lines.append(f"         {event.url}")
        for report in entry.follow_ups:
            lines.append(f"  follow-up: {day_text(report.seen)}  {report.title}  {report.url}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _report_json(report: EventReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {"story_id": report.story_id, "title": report.title, "url": report.url,
            "first_seen": report.seen.isoformat()}


def ledger_json(entries: Sequence[LedgerEntry]) -> dict[str, Any]:
    """`monitor events --json`."""
    return {"events": [
        {"state": e.event.state, "kind": e.event.kind,
         "label": KIND_LABELS.get(e.event.kind, e.event.kind),
         "first_reported": e.event.seen.isoformat(), "title": e.event.title,
         "url": e.event.url, "origin": e.event.origin, "source": e.event.source,
         "first_story": _report_json(e.first),
         "follow_ups": [_report_json(r) for r in e.follow_ups]}
        for e in entries]}
