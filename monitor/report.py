"""Human output of the CLI: tables, summaries, explanations. Formatting only.

One piece (over 400 lines) because every command's text and JSON shapes are read side by
side here: a key renamed in one shape is seen missing in its neighbours.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from monitor.backtest import Backtest, Change
from monitor.classify import TopicClassifier
from monitor.cluster import NodeInfo, alive
from monitor.config import Config, SourceConfig
from monitor.decide import health
from monitor.digest import iso_utc, seconds_utc, story_payload
from monitor.errors import ConfigError
from monitor.text import one_line
from monitor.types import (
    UNKNOWN_ACTOR,
    ArticleCounts,
    Classification,
    DatabaseCheck,
    DatabaseInfo,
    FlushOutcome,
    PollOutcome,
    SourceState,
    Story,
    actor_unknown,
)
from monitor.urls import shown_database, strip_credentials, without_credentials


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return seconds_utc(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([line.rstrip(), *body])


def config_summary(config: Config) -> str:
    lines = [f"config {config.path or '(inline)'} is valid",
             f"database: {shown_database(config.monitor.database)}"]
    if config.http is not None:
        http = config.http
        access = "reads open" if http.loopback else "every request needs the token"
        writes = f"the token in ${http.token_env}" if http.token_env else "refused (no token_env)"
        lines.append(f"http: {http.listen} ({access}; API writes: {writes})")
    lines.append(f"topics ({len(config.topics)}):")
    lines += [f"  {t.name}: event={t.event or '-'} entities={len(t.entities)}"
              f"{' query=' + repr(t.query) if t.query else ''}" for t in config.topics]
    lines.append(f"sources ({len(config.sources)}):")
    lines += [f"  {s.name} [{s.type}] every {_duration(config.interval(s))}: "
              f"{without_credentials(s.url)}"
              for s in config.sources]
    lines.append(f"notifiers ({len(config.notifiers)}):")
    lines += [f"  {n.name} [{n.type}] schedule={n.schedule!r}"
              f"{' operator' if n.operator else ''}"
              f" topics={','.join(n.topics) if n.topics is not None else 'all'}"
              for n in config.notifiers]
    return "\n".join(lines)


def _duration(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class Progress:
    """`sources done / total, errors` on one terminal line, when stderr is a terminal."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.done, self.errors = total, enabled, 0, 0

    def update(self, outcome: PollOutcome) -> None:
        self.done += 1
        self.errors += outcome.error is not None
        if self.enabled:
            sys.stderr.write(f"\rpolled {self.done}/{self.total} sources, "
                             f"{self.errors} errors ")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self.total:
            sys.stderr.write("\n")


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """ "1 digest", "2 digests": the count with the noun agreeing."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def cycle_summary(outcomes: Sequence[PollOutcome], flushed: Sequence[FlushOutcome]) -> str:
    by_status: dict[str, int] = {}
    for o in outcomes:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "no sources"
    lines = [f"polled {plural(len(outcomes), 'source')} ({statuses}): "
             f"{plural(sum(o.new for o in outcomes), 'new item')}, "
             f"{sum(o.matched for o in outcomes)} matched"]
    lines += [f"  error {o.source}: {o.error}" for o in outcomes if o.error]
    for f in flushed:
        lines.append(f"notifier {f.notifier}: {plural(f.sent, 'digest')} sent"
                     + (f", {f.failed} failed (will retry)" if f.failed else "")
                     + (f", {f.dead} dead-lettered" if f.dead else ""))
        lines += [f"  {e}" for e in f.errors]
    return "\n".join(lines)


def status_table(config: Config, states: Sequence[SourceState], now: datetime) -> str:
    by_name = {s.name: s for s in states}
    rows = []
    for source in config.sources:
        state = by_name.get(source.name)
        if state is None:
            rows.append([source.name, "new", "-", "-", "-", "0", "0", "-", "", ""])
            continue
        rows.append([one_line(source.name, 32), health(state, now, config.interval(source)),
                     _when(state.last_fetch_at), state.last_status or "-",
                     _when(state.last_success_at), str(state.items_seen),
                     str(state.consecutive_failures), _when(state.next_poll_at),
                     state.last_error_kind or "", one_line(state.last_error, 70)])
    table = _table(["SOURCE", "HEALTH", "LAST FETCH", "RESULT", "LAST SUCCESS", "ITEMS",
                    "FAILURES", "NEXT POLL", "ERROR KIND", "LAST ERROR"], rows)
    return "\n".join([table, *flood_notes(config, states)])


# How many failing sources and dead deliveries the check's line names ("and N more").
CHECK_NAMED = 3


def check_line(sources: int, past: Sequence[SourceState], recent: Sequence[SourceState],
               dead: Sequence[Mapping[str, Any]], dead_count: int, limit: timedelta) -> str:
    """`monitor status --check`: one line. The problems (sources failing for ``limit`` or
    longer, the ``dead_count`` dead deliveries, the oldest of which are ``dead``), or
    "ok: ..." when there are none."""
    after = _duration(limit)
    if not past and not dead_count:
        failing = f"{len(recent)} failing for less than {after}" if recent else "none failing"
        return f"ok: {plural(sources, 'source')}, {failing}; no dead delivery"
    parts = []
    if past:
        named = ", ".join(f"{s.name!r} since {_when(s.failing_since)} "
                          f"({one_line(s.last_error, 80)})" for s in past[:CHECK_NAMED])
        more = f" and {len(past) - CHECK_NAMED} more" if len(past) > CHECK_NAMED else ""
        parts.append(f"{plural(len(past), 'source')} failing for {after} or more: "
                     f"{named}{more}")
    if dead_count:
        shown = dead[:CHECK_NAMED]
        named = ", ".join(f"{r['notifier']} ({one_line(r['last_error'], 80)})" for r in shown)
        more = f" and {dead_count - len(shown)} more" if dead_count > len(shown) else ""
        parts.append(f"{plural(dead_count, 'dead delivery', 'dead deliveries')}: {named}"
                     f"{more}; see `monitor deliveries`")
    return "; ".join(parts)


def check_json(line: str, past: Sequence[SourceState], dead_count: int) -> str:
    """`monitor status --check --json`: the check as one object, ``line`` its reason."""
    return _json({"ok": not past and not dead_count, "reason": line,
                  "failing": [{"name": s.name, "failing_since": _iso(s.failing_since),
                               "consecutive_failures": s.consecutive_failures,
                               "last_error": s.last_error,
                               "last_error_kind": s.last_error_kind} for s in past],
                  "dead": dead_count})


def flood_notes(config: Config, states: Sequence[SourceState]) -> list[str]:
    """One line per flooding source, and what the per-poll cap did to its last poll."""
    return [f"flooding: {s.name} since {_when(s.flooding_since)}, {s.last_new} new items in "
            f"its last poll against about {s.new_per_poll:.0f} usually; {s.last_capped} past "
            f"max_new_per_poll ({config.monitor.max_new_per_poll}) recorded without alert"
            for s in states if s.flooding_since is not None]


def _json(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)


def _iso(value: datetime | str | None) -> str | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return iso_utc(value)


def status_json(config: Config, states: Sequence[SourceState], now: datetime,
                deliveries: Sequence[Mapping[str, Any]],
                database: DatabaseInfo | None = None,
                articles: ArticleCounts | None = None,
                nodes: Sequence[NodeInfo] | None = None) -> str:
    """`monitor status --json`: each configured source's health, and delivery counts."""
    by_name = {s.name: s for s in states}
    sources = [source_json(source, by_name.get(source.name), now, config.interval(source))
               for source in config.sources]
    counts = {status: 0 for status in ("pending", "sending", "failed", "dead")}
    for row in deliveries:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    document: dict[str, Any] = {"sources": sources, "deliveries": counts}
    if database is not None:
        document["database"] = database_json(database, config.monitor.retention)
    if articles is not None:
        document["articles"] = articles_json(config, articles)
    if nodes is not None:
        document["nodes"] = nodes_json(nodes, now, config.monitor.lease_timeout)
    return _json(document)


def source_json(source: SourceConfig, state: SourceState | None, now: datetime,
                interval: timedelta) -> dict[str, Any]:
    """One source of `monitor status --json` (and of the HTTP API): its health and the
    state of its last poll; a source never polled is "new"."""
    return {
        "name": source.name, "url": without_credentials(source.url),
        "health": health(state, now, interval) if state else "new",
        "last_fetch_at": _iso(state.last_fetch_at) if state else None,
        "last_status": state.last_status if state else None,
        "last_success_at": _iso(state.last_success_at) if state else None,
        "items_seen": state.items_seen if state else 0,
        "consecutive_failures": state.consecutive_failures if state else 0,
        "next_poll_at": _iso(state.next_poll_at) if state else None,
        "last_error": state.last_error if state else None,
        # what failed (monitor.types.ErrorKind): fetch, gone, parse, selector, crash
        "last_error_kind": state.last_error_kind if state else None,
    }


def matches_json(stories: Sequence[Story]) -> str:
    """`monitor matches --json`: the stories as in the webhook payload, newest first."""
    return _json({"stories": [story_payload(s) for s in newest_first(stories)]})


def deliveries_json(rows: Sequence[Mapping[str, Any]]) -> str:
    """`monitor deliveries --json`: pending, failed and dead deliveries, oldest first."""
    return _json({"deliveries": [delivery_json(r) for r in rows]})


def delivery_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """One delivery of `monitor deliveries --json` (and of the HTTP API), times in ISO."""
    keys = ("created_at", "next_attempt_at", "last_attempt_at", "delivered_at")
    return {**row, **{k: _iso(row.get(k)) for k in keys if k in row},
            "stories": row.get("stories") or 0}


def deliveries_summary(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "deliveries: nothing pending, failed or dead"
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return f"deliveries: {text} (see `monitor deliveries`)"


def deliveries_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no pending, failed or dead deliveries"
    return _table(["ID", "NOTIFIER", "KIND", "STATUS", "STORIES", "ATTEMPTS", "CREATED",
                   "NEXT ATTEMPT", "LAST ERROR"],
                  [[r["id"], r["notifier"], r["kind"], r["status"], str(r["stories"] or 0),
                    str(r["attempts"]), _when(r["created_at"]),
                    _when(r["next_attempt_at"]) if r["status"] != "dead" else "-",
                    one_line(r["last_error"], 80)] for r in rows])


def newest_first(stories: Sequence[Story]) -> list[Story]:
    """By published time, newest first; undated stories last, the latest flagged first."""
    return sorted(stories, key=lambda s: (s.published is not None,
                                          s.published.timestamp() if s.published else 0.0,
                                          s.id), reverse=True)


def matches(stories: Sequence[Story]) -> str:
    if not stories:
        return "no flagged stories in that period"
    blocks = []
    for s in newest_first(stories):
        sources = ", ".join(dict.fromkeys(x.source for x in s.sources))
        blocks.append(f"[{s.category or s.topic}] {s.title}\n  {strip_credentials(s.url)}\n"
                      f"  published {_when(s.published)}; sources: {sources}; "
                      f"actors: {', '.join(s.actors) or _story_no_actor(s)}; score {s.score:.2f}\n"
                      f"  evidence{' (from the article)' if s.evidence_source == 'article' else ''}"
                      f": {one_line(s.evidence, 200)}")
    return "\n".join(blocks)


def _story_no_actor(story: Story) -> str:
    return UNKNOWN_ACTOR if actor_unknown(story.category, story.actors) else "-"


def _no_actor(rules: Sequence[str]) -> str:
    return UNKNOWN_ACTOR if "actor:unknown" in rules else "-"


_NEGATION = re.compile(r"\b(?:not|never|no|refus\w*|reject\w*|rules?\s+out)\b|n['’]t\b",
                       re.IGNORECASE)
_NEGATION_CUES = ("not", "no", "never", "nor", "without", "n't", "cannot", "against",
                  "refus", "reject", "declin", "rule", "oppos", "den", "unrecognised")


def why(c: Classification) -> str:
    """Why the verdict, in words: a non-match's reason; for a match found negated or modal
    (so refused or debated, not granted), which cue made it so; else ""."""
    if not c.match:
        return c.reason or "no rule matched"
    for rule in c.rules:
        if rule.startswith("modality:"):
            cue = rule.split(":", 1)[1]
            if cue == "question":
                return "modal: a yes/no question, so refused or debated"
            if not any(cue.startswith(n) or cue.endswith(n) for n in _NEGATION_CUES):
                negation = _NEGATION.search(c.evidence)
                if negation is None:
                    return f'modal: "{cue}" near the event, so refused or debated'
                cue = negation.group(0).lower()
            return f'negated: "{cue}" near the event, so refused or debated'
    return ""


def explain(c: Classification) -> str:
    lines = [
        f"topic:    {c.topic}",
        f"match:    {'yes' if c.match else 'no'}",
        f"score:    {c.score:.2f}",
        f"category: {c.category or '-'}",
        f"actors:   {', '.join(c.actors) or _no_actor(c.rules)}",
        f"evidence: {c.evidence or '-'}",
        f"rules:    {', '.join(c.rules) or '-'}",
    ]
    reason = why(c)
    if reason:
        lines.insert(2, f"{'why:' if c.match else 'why not:':<9} {reason}")
    return "\n".join(lines)


def best_verdict(classifiers: Mapping[str, TopicClassifier], title: str,
                 summary: str) -> Classification:
    """The most confident verdict across topics: matches first, then by score."""
    verdicts = [c.classify(title, summary) for c in classifiers.values()]
    return max(verdicts, key=lambda v: (v.match, v.score))


def read_jsonl(path: str) -> Iterator[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ConfigError(f"{path}:{number}: not JSON: {exc.msg}") from None
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}") from None


# -- the database, retention and backtest ------------------------------------


def size_text(size: int) -> str:
    """ "812 KB", "12.3 MB": a byte count for people."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{round(size / 1024)} KB"


def database_line(info: DatabaseInfo, retention: timedelta | None) -> str:
    """`monitor status`: the database's size, its oldest item, and the retention."""
    oldest = _when(info.oldest_item) if info.oldest_item else "none"
    kept = f", {plural(info.kept_keys, 'dedup key')} of deleted items" if info.kept_keys else ""
    keep = f"retention {_duration(retention)}" if retention else "retention off"
    return (f"database {info.path}: {size_text(info.size)}, "
            f"{plural(info.items, 'item')}{kept}; oldest item first seen {oldest} ({keep})")


def database_check(found: DatabaseCheck) -> str:
    """`monitor db check`: engine, schema version, then each problem or "ok"."""
    newer = "" if found.schema_version == found.code_version else \
        f" (this news-monitor writes {found.code_version})"
    rows = ", ".join(f"{n} {t}" for t, n in found.rows)
    lines = [f"database {found.path}: {found.engine}, schema version "
             f"{found.schema_version}{newer}", f"rows: {rows or '-'}"]
    lines += [f"problem: {p}" for p in found.problems]
    lines.append(f"{'FAILED' if found.problems else 'ok'}: "
                 f"{plural(len(found.checked), 'check')} ({', '.join(found.checked)})")
    return "\n".join(lines)


def copy_summary(source: str, target: str, rows: Mapping[str, int]) -> str:
    """`monitor db copy`: what was copied where, and what to do next."""
    counts = ", ".join(f"{n} {t}" for t, n in rows.items())
    return (f"copied {source} into {shown_database(target)}: {counts}\n"
            f"next: set [monitor] database (or database_env) to the PostgreSQL URL and start "
            f"`monitor run`; keep {source} until the first poll went well")


def database_json(info: DatabaseInfo, retention: timedelta | None) -> dict[str, Any]:
    """The "database" member of `monitor status --json`."""
    return {"path": info.path, "size_bytes": info.size, "items": info.items,
            "oldest_item": _iso(info.oldest_item), "kept_keys": info.kept_keys,
            "retention": _duration(retention) if retention else "off"}


def _ago(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s ago"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m ago"


def _holds(node: NodeInfo) -> str:
    held = [plural(node.sources, "source"), plural(node.deliveries, "delivery", "deliveries"),
            *node.singletons]
    return ", ".join(held)


def nodes_table(nodes: Sequence[NodeInfo], now: datetime, lease_timeout: timedelta) -> str:
    """`monitor status`: the nodes of the database, their last heartbeat, what they hold.
    A node silent for lease_timeout is lost: its leases have lapsed."""
    rows = [[n.id, one_line(n.identity.host, 24), str(n.identity.pid), _when(n.identity.started_at),
             _ago(now - n.heartbeat_at) + ("" if alive(n, now, lease_timeout) else " (lost)"),
             n.identity.config_hash, _holds(n)] for n in nodes]
    if not rows:
        return "nodes: none running"
    return _table(["NODE", "HOST", "PID", "STARTED", "HEARTBEAT", "CONFIG", "HOLDS"], rows)


def nodes_json(nodes: Sequence[NodeInfo], now: datetime,
               lease_timeout: timedelta) -> list[dict[str, Any]]:
    """The "nodes" member of `monitor status --json`."""
    return [{"id": n.id, "host": n.identity.host, "pid": n.identity.pid,
             "started_at": _iso(n.identity.started_at), "heartbeat_at": _iso(n.heartbeat_at),
             "alive": alive(n, now, lease_timeout), "config_hash": n.identity.config_hash,
             "sources": n.sources, "deliveries": n.deliveries,
             "singletons": list(n.singletons)} for n in nodes]


# How far back `monitor status` counts article reads.
ARTICLES_SPAN = timedelta(hours=24)


def articles_line(config: Config, counts: ArticleCounts) -> str:
    """`monitor status`: the article reads of the last 24 hours, and the setting."""
    m = config.monitor
    setting = (f"fetch_articles = {m.fetch_articles}, budget {m.article_budget} per "
               f"{_duration(m.poll_interval)}")
    return (f"articles in the last 24h ({setting}): {counts.fetched} fetched, "
            f"{counts.from_cache} from cache, {counts.failed} failed, "
            f"{counts.skipped} skipped for budget")


def articles_json(config: Config, counts: ArticleCounts) -> dict[str, Any]:
    """The "articles" member of `monitor status --json`."""
    m = config.monitor
    return {"fetch_articles": m.fetch_articles, "budget": m.article_budget,
            "budget_per": _duration(m.poll_interval), "since": "24h",
            "fetched": counts.fetched, "from_cache": counts.from_cache,
            "failed": counts.failed, "skipped_budget": counts.skipped}


def _change(change: Change, now_side: bool) -> str:
    item = change.item
    label = "matches now" if now_side else "matched then"
    rules = f"\n    rules: {', '.join(change.rules)}" if change.rules else ""
    return (f"  [{change.topic}] {one_line(item.title, 120)}\n"
            f"    {item.source}, first seen {_when(item.first_seen)}: "
            f"{strip_credentials(item.url) or '-'}\n"
            f"    {label}: {one_line(change.evidence or item.title, 200)}{rules}")


def backtest_text(result: Backtest) -> str:
    """`monitor backtest`: what would alert now that did not, and the reverse."""
    head = (f"backtest of {', '.join(result.topics)} over {plural(result.items, 'stored item')} "
            f"first seen since {_when(result.since)}: {len(result.gained)} would alert now, "
            f"{len(result.lost)} alerted but would not now, {result.unchanged} unchanged")
    lines = [head, "", f"would alert now, did not ({len(result.gained)}):"]
    lines += [_change(c, True) for c in result.gained] or ["  (none)"]
    lines += ["", f"alerted, would not now ({len(result.lost)}):"]
    lines += [_change(c, False) for c in result.lost] or ["  (none)"]
    return "\n".join(lines)


def _change_json(change: Change) -> dict[str, Any]:
    item = change.item
    return {"topic": change.topic, "item_id": item.id, "source": item.source,
            "url": strip_credentials(item.url), "title": item.title,
            "published": _iso(item.published), "first_seen": _iso(item.first_seen),
            "evidence": change.evidence, "rules": list(change.rules),
            "stories": [m.story_id for m in item.matches if m.topic == change.topic]}


def backtest_json(result: Backtest) -> str:
    """`monitor backtest --json`."""
    return _json({"since": _iso(result.since), "topics": list(result.topics),
                  "items": result.items, "unchanged": result.unchanged,
                  "would_alert_now": [_change_json(c) for c in result.gained],
                  "alerted_would_not": [_change_json(c) for c in result.lost]})
