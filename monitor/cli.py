"""The `monitor` command: parses arguments, calls the app, prints for humans.

Exit codes (contract): 0 ok, 1 runtime failure, 2 bad usage or bad config; `monitor once`
also 3 when a source failed, 4 when a delivery failed, 5 when both did.

One piece (over 400 lines) because it is the command line's one table: each ``cmd_*`` is
a few lines of argument handling around a call into the app, and build_parser lists them
all; the wording of what they print lives in report.py.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from monitor import __version__, report
from monitor.app import App, build_app, build_classifiers, utcnow
from monitor.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, Config, load_config, load_config_data
from monitor.errors import ConfigError, MonitorError, NotifyError
from monitor.health import check_limit, failing_for
from monitor.logs import log_to_stderr
from monitor.outbox import Outbox
from monitor.retention import plan_retention, run_retention
from monitor.store import Store, hold_database, is_postgres_url, open_store
from monitor.types import FlushOutcome, PollOutcome

if TYPE_CHECKING:
    from monitor.scheduler import Daemon
    from monitor.web.server import WebServer

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_SOURCES_FAILED, EXIT_DELIVERIES_FAILED, EXIT_BOTH_FAILED = 3, 4, 5

DEFAULT_TOPIC = {"name": "taliban-recognition", "event": "recognition",
                 "entities": ["Taliban", "Islamic Emirate of Afghanistan",
                              "Afghan interim government"]}


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _topics_config(args: argparse.Namespace) -> Config:
    """The config for classify/eval: the file if there is one, else the built-in topic."""
    explicit = args.config or os.environ.get(CONFIG_ENV)
    if not explicit and not Path(DEFAULT_CONFIG_PATH).exists():
        return load_config_data({"topics": [DEFAULT_TOPIC]})
    return _config(args)


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _config(args)
    print(report.config_summary(config))
    return EXIT_OK


def once_exit_code(outcomes: Sequence[PollOutcome], flushed: Sequence[FlushOutcome], *,
                   fail_on_sources: bool = True) -> int:
    """PURE: `monitor once`'s exit code. 1 when a poll could not be recorded (the database
    failed); else 3 for failed sources (unless told not to), 4 for failed deliveries, 5 for
    both, 0 when all went well."""
    if any((o.error or "").startswith("StoreError") for o in outcomes):
        return EXIT_FAILURE
    sources = fail_on_sources and any(o.error is not None or o.status in ("error", "gone")
                                      for o in outcomes)
    deliveries = any(f.failed or f.dead or f.errors for f in flushed)
    if sources and deliveries:
        return EXIT_BOTH_FAILED
    if sources:
        return EXIT_SOURCES_FAILED
    return EXIT_DELIVERIES_FAILED if deliveries else EXIT_OK


def cmd_once(args: argparse.Namespace) -> int:
    from monitor.cluster import RETENTION
    from monitor.scheduler import poll_claimed

    config = _config(args)
    lock = hold_database(config.monitor.database)
    app = build_app(config)
    try:
        progress = report.Progress(len(config.sources), enabled=sys.stderr.isatty())
        outcomes = poll_claimed(app, progress.update)
        progress.finish()
        flushed = app.deliverer.flush_all()
        if app.node.holds(RETENTION):
            run_retention(app.store, plan_retention(config.monitor.retention, app.clock()))
        print(report.cycle_summary(outcomes, flushed))
        return once_exit_code(outcomes, flushed, fail_on_sources=args.fail_on_source_errors)
    finally:
        app.close()
        lock.close()


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.scheduler import Daemon

    config = _config(args)
    # A signal while the node starts (it has joined its cluster) is kept until the daemon
    # is built, which then stops at once and leaves: the node never ends half-started.
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        logging.getLogger("monitor").info("received %s, stopping",
                                          signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    lock = hold_database(config.monitor.database)
    app = build_app(config)
    daemon = Daemon(app, stopping=stop)
    try:
        web = _serve_http(config, app, daemon)
    except MonitorError:
        app.close()
        lock.close()
        raise
    finished = False
    try:
        finished = daemon.run_until_stopped()
    finally:
        if web is not None:
            web.stop()
        if finished:
            app.close()
            lock.close()
    if not finished:
        # Work still in flight (a slow fetch or SMTP server) is abandoned: whatever it had
        # not committed is redone on the next start, or by another node: its leases are
        # released. Exit now rather than wait for it.
        app.node.leave()
        logging.shutdown()
        os._exit(EXIT_OK)
    return EXIT_OK


def _serve_http(config: Config, app: App, daemon: Daemon) -> WebServer | None:
    """The HTTP face of the daemon, when the config has an [http] table."""
    if config.http is None:
        return None
    from monitor.web.context import NodeInfo, Web
    from monitor.web.server import serve
    from monitor.web.views import node_list

    def nodes() -> list[NodeInfo]:
        now = app.clock()
        return node_list(app.store.nodes(now), now, config.monitor.lease_timeout)

    metrics = app.metrics.render if app.metrics is not None else None
    return serve(config.http, Web(config, app.store, app.clock, daemon, nodes),
                 metrics=metrics)


def _open_store(config: Config) -> Store:
    database = config.monitor.database
    if not is_postgres_url(database) and database != ":memory:" and \
            not Path(database).exists():
        raise MonitorError(f"no database yet at {database}: "
                           "run `monitor once` or `monitor run` first")
    return open_store(database)


def status_check(config: Config, store: Store, *, as_json: bool = False) -> int:
    """`monitor status --check`: exit 3 when a configured source has been failing for its
    operators' `alert_after` or longer, 4 when a delivery is dead, 5 for both, with one
    line on stderr; else 0 and "ok: ..." on stdout (so cron, sending what is printed, can
    mail only the problems: `monitor status --check >/dev/null`). ``as_json``: the same
    exit codes, and one JSON object on stdout in every case (report.check_json)."""
    limit = check_limit({n.name: n.alert_after for n in config.notifiers if n.operator})
    configured = {s.name for s in config.sources}
    past, recent = failing_for(store.source_states(), configured, utcnow(), limit)
    # Dead deliveries stay until retried: count them, read only those the line names.
    dead_count = sum(store.delivery_counts(("dead",)).values())
    dead = store.delivery_rows(("dead",), limit=report.CHECK_NAMED) if dead_count else []
    line = report.check_line(len(configured), past, recent, dead, dead_count, limit)
    if as_json:
        print(report.check_json(line, past, dead_count))
    else:
        print(line, file=sys.stderr if past or dead_count else sys.stdout)
    if past and dead_count:
        return EXIT_BOTH_FAILED
    if past:
        return EXIT_SOURCES_FAILED
    return EXIT_DELIVERIES_FAILED if dead_count else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    config = _config(args)
    store = _open_store(config)
    try:
        store.check_readable()  # a damaged database must not look healthy in the table
        if args.check:
            return status_check(config, store, as_json=args.json)
        states = store.source_states()
        rows = store.delivery_rows(("pending", "sending", "failed", "dead"))
        database = store.database_info()
        now = utcnow()
        articles = store.article_counts(now - report.ARTICLES_SPAN)
        nodes = store.nodes(now)
        if args.json:
            print(report.status_json(config, states, now, rows, database, articles, nodes))
            return EXIT_OK
        print(report.status_table(config, states, now))
        print(report.deliveries_summary(rows))
        print(report.articles_line(config, articles))
        print(report.nodes_table(nodes, now, config.monitor.lease_timeout))
        print(report.database_line(database, config.monitor.retention))
    finally:
        store.close()
    return EXIT_OK


def _since(args: argparse.Namespace) -> datetime:
    """The moment ``--since`` names (a duration back from now); a bad one names the flag."""
    from monitor.config import parse_duration

    try:
        return utcnow() - parse_duration(args.since)
    except ValueError as exc:
        raise ConfigError(f"--since: {exc}") from None


def cmd_matches(args: argparse.Namespace) -> int:
    config = _config(args)
    since = _since(args)
    store = _open_store(config)
    try:
        stories = store.matches(since)
        print(report.matches_json(stories) if args.json else report.matches(stories))
    finally:
        store.close()
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    from monitor.events import format_ledger, known_events, ledger_json, with_shipped

    config = _config(args)
    stored = []
    if config.monitor.database == ":memory:" or Path(config.monitor.database).exists():
        store = _open_store(config)
        try:
            stored = store.ledger()
        finally:
            store.close()
    entries = with_shipped(stored, known_events())
    if args.state:
        wanted = args.state.casefold()
        entries = [e for e in entries if e.event.state.casefold() == wanted]
    print(json.dumps(ledger_json(entries), indent=2, ensure_ascii=False) if args.json
          else format_ledger(entries))
    return EXIT_OK


def cmd_backtest(args: argparse.Namespace) -> int:
    from monitor.backtest import backtest, choose_classifiers

    config = _config(args)
    since = _since(args)
    classifiers = choose_classifiers(config.topics, build_classifiers(config), args.topic,
                                     args.query)
    store = _open_store(config)
    try:
        result = backtest(store.stored_items(since), classifiers, since)
    finally:
        store.close()
    print(report.backtest_json(result) if args.json else report.backtest_text(result))
    return EXIT_OK


def cmd_classify(args: argparse.Namespace) -> int:
    classifiers = build_classifiers(_topics_config(args))
    if args.jsonl:
        for record in report.read_jsonl(args.jsonl):
            best = report.best_verdict(classifiers, record.get("title") or "",
                                       record.get("summary") or "")
            line = {"id": record.get("id"), "match": best.match, "topic": best.topic,
                    "score": round(best.score, 4), "category": best.category}
            if not best.match:
                line["reason"] = report.why(best)
            print(json.dumps(line, ensure_ascii=False))
        return EXIT_OK
    text = args.text if args.text is not None else sys.stdin.read()
    for classifier in classifiers.values():
        print(report.explain(classifier.classify(text)))
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from monitor.classify.evaluate import evaluate_file, format_report

    config = _topics_config(args)
    topic = next((t for t in config.topics if t.name == args.topic), None) if args.topic \
        else config.topics[0]
    if topic is None:
        raise ConfigError(f"--topic: no topic named {args.topic!r}")
    classifier = build_classifiers(config)[topic.name]
    print(format_report(evaluate_file(args.file, classifier)))
    return EXIT_OK


def cmd_test_notify(args: argparse.Namespace) -> int:
    from monitor.notify import build_notifier
    from monitor.types import Digest

    config = _config(args)
    notifier = build_notifier(config.notifier(args.name), config.monitor.user_agent)
    now = utcnow()
    digest = Digest(id=f"test-{now:%Y%m%dT%H%M%S}-{os.getpid()}", notifier=args.name,
                    created_at=now, stories=(), kind="test",
                    text=f"Sent by `monitor test-notify` (news-monitor {__version__}).")
    try:
        notifier.send(digest)
    except NotifyError as exc:
        print(f"test message through {args.name!r} failed: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"test message sent through {args.name!r}")
    return EXIT_OK


def cmd_deliveries(args: argparse.Namespace) -> int:
    config = _config(args)
    store = _open_store(config)
    try:
        if args.retry:
            count = Outbox(store).retry(None if args.retry == "all" else args.retry, utcnow())
            print(f"{report.plural(count, 'delivery', 'deliveries')} made due now; they are "
                  "sent on the next "
                  "`monitor once` or by the running daemon within a minute")
            return EXIT_OK if count or args.retry == "all" else EXIT_FAILURE
        rows = store.delivery_rows(("pending", "sending", "failed", "dead"))
        print(report.deliveries_json(rows) if args.json else report.deliveries_table(rows))
    finally:
        store.close()
    return EXIT_OK


def cmd_db_check(args: argparse.Namespace) -> int:
    config = _config(args)
    store = _open_store(config)
    try:
        found = store.check()
    finally:
        store.close()
    print(report.database_check(found))
    return EXIT_FAILURE if found.problems else EXIT_OK


def cmd_db_copy(args: argparse.Namespace) -> int:
    from monitor.store.copy import copy_database

    target = args.to or os.environ.get(args.to_env or "", "") or None
    if args.to_env and not target:
        raise ConfigError(f"--to-env: environment variable {args.to_env} is not set")
    if target is None:
        config = _config(args)
        if not is_postgres_url(config.monitor.database):
            raise ConfigError("--to: name the PostgreSQL database (a postgresql:// URL), "
                              "or set it as [monitor] database first")
        target = config.monitor.database
    rows = copy_database(args.source, target, replace=args.replace)
    print(report.copy_summary(args.source, target, rows))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo.serve import run_demo

    data_dir = args.data_dir or tempfile.mkdtemp(prefix="news-monitor-demo-")
    return run_demo(Path(data_dir), print)


def _config_if_any(args: argparse.Namespace) -> Config | None:
    """The config when one is named or the default file exists, else None."""
    explicit = args.config or os.environ.get(CONFIG_ENV)
    if not explicit and not Path(DEFAULT_CONFIG_PATH).exists():
        return None
    return _config(args)


def cmd_sources_import(args: argparse.Namespace) -> int:
    from monitor.sources.config_file import append_to_config
    from monitor.sources.entries import (
        candidates_from_opml,
        plan_report,
        plan_sources,
        render_sources,
    )
    from monitor.sources.opml import parse_opml

    try:
        content = Path(args.file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {args.file}: {exc.strerror}") from None
    document = parse_opml(content)
    config = _config(args) if args.write else _config_if_any(args)
    existing = [(s.name, s.url) for s in config.sources] if config else []
    plan = plan_sources(candidates_from_opml(document), existing)
    for line in plan_report(plan, document.skipped):
        print(line, file=sys.stderr)
    text = render_sources(plan.added, f"Imported from {Path(args.file).name} "
                                      f"on {utcnow():%Y-%m-%d}")
    if config is None or not args.write:
        if plan.added:
            print(text, end="")
        return EXIT_OK
    path = Path(config.path)
    if not plan.added:
        print(f"no new source to add to {path}")
        return EXIT_OK
    append_to_config(path, text)
    print(f"added {len(plan.added)} source{'s' if len(plan.added) != 1 else ''} to {path} "
          f"(previous version kept as {path.name}.bak)")
    return EXIT_OK


def cmd_sources_export(args: argparse.Namespace) -> int:
    from monitor.sources.opml import ExportedFeed, render_opml
    from monitor.urls import strip_credentials

    config = _config(args)
    feeds = [ExportedFeed(s.name, strip_credentials(s.url))
             for s in config.sources if s.type == "feed"]
    for source in config.sources:
        if source.type == "feed" and strip_credentials(source.url) != source.url:
            print(f"source {source.name!r}: the credentials in its URL are not exported",
                  file=sys.stderr)
    sys.stdout.buffer.write(render_opml(feeds, "news-monitor sources", utcnow()))
    sys.stdout.flush()
    return EXIT_OK


def cmd_sources_discover(args: argparse.Namespace) -> int:
    from monitor.sources.config_file import append_to_config
    from monitor.sources.discover import discover_url, format_discovery
    from monitor.sources.entries import Candidate, plan_report, plan_sources, render_sources

    config = _config(args)
    discovery = discover_url(args.url, config.monitor)
    print(format_discovery(discovery))
    if not discovery.feeds:
        return EXIT_FAILURE
    if args.add is None:
        return EXIT_OK
    if args.add == 0 and len(discovery.feeds) > 1:
        raise ConfigError(f"{len(discovery.feeds)} feeds found: choose one with --add N")
    if not 0 <= args.add <= len(discovery.feeds):
        raise ConfigError(f"--add {args.add}: choose a number from 1 to "
                          f"{len(discovery.feeds)}")
    chosen = discovery.feeds[max(args.add, 1) - 1]
    plan = plan_sources([Candidate(chosen.title, chosen.url)],
                        [(s.name, s.url) for s in config.sources])
    for line in plan_report(plan):
        print(line, file=sys.stderr)
    if plan.added:
        append_to_config(Path(config.path), render_sources(
            plan.added, f"Discovered on {discovery.url} on {utcnow():%Y-%m-%d}"))
        print(f"added source {plan.added[0].name!r} to {config.path} "
              f"(previous version kept as {Path(config.path).name}.bak)")
    return EXIT_OK


Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS: an option given before the command is not reset by the command's parser.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("-c", "--config", metavar="PATH",
                        help=f"config file (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG_PATH})")
    common.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    common.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    parser = argparse.ArgumentParser(
        prog="monitor", description="news-monitor: watches news sources and alerts, fast and "
        "once, on stories about tracked topics.", parents=[common])
    parser.add_argument("--version", action="version", version=f"news-monitor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add = functools.partial(_add_command, sub, common)
    add("run", cmd_run, "run the daemon: poll sources and send digests until SIGINT/SIGTERM")
    p = add("once", cmd_once, "poll every source once, classify, then send every pending "
            "digest; exit 3 if a source failed, 4 if a delivery failed, 5 if both")
    p.add_argument("--no-fail-on-source-errors", dest="fail_on_source_errors",
                   action="store_false", help="exit 0 even when some sources failed")
    add("check-config", cmd_check_config, "validate the config and print a summary")
    p = add("status", cmd_status, "show each source's health, last fetch, errors and next poll")
    p.add_argument("--json", action="store_true", help="print one JSON document (with "
                   "--check: {\"ok\", \"reason\", \"failing\", \"dead\"}, same exit codes)")
    p.add_argument("--check", action="store_true",
                   help="one line and an exit code, for cron and monitoring: 3 when a source "
                        "has failed for its operators' alert_after (default 6h) or longer, 4 "
                        "when a delivery is dead, 5 for both, 0 when neither")
    p = add("matches", cmd_matches, "list recent flagged stories, newest first")
    p.add_argument("--since", default="7d", help="how far back, as a duration (default 7d)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p = add("events", cmd_events, "the event ledger: each state's steps, their first "
            "report and the follow-ups")
    p.add_argument("--state", metavar="NAME", help="only this state (e.g. Russia)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p = add("backtest", cmd_backtest, "replay the current topics (or a query) over the "
            "stored items: what would alert now that did not, and the reverse")
    p.add_argument("--since", default="30d", help="how far back, as a duration (default 30d)")
    p.add_argument("--topic", metavar="NAME", help="only this topic (with --query: the "
                   "query replaces this topic's query)")
    p.add_argument("--query", metavar="Q", help="a boolean query to try (docs/queries.md)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p = add("classify", cmd_classify, "classify one text (or stdin) and explain the decision")
    p.add_argument("text", nargs="?", help="the text; read from stdin when absent")
    p.add_argument("--jsonl", metavar="FILE",
                   help='classify records {"id","title","summary"}, one JSON line out each')
    p = add("eval", cmd_eval, "precision, recall, F1 and confusion against labelled records")
    p.add_argument("file", metavar="FILE.jsonl", help="records carrying a 0/1 `label`")
    p.add_argument("--topic", help="topic to evaluate (default: the first)")
    p = add("test-notify", cmd_test_notify, "send a test message through one notifier")
    p.add_argument("name", help="the notifier's name")
    p = add("deliveries", cmd_deliveries, "list pending, failed and dead-lettered deliveries")
    p.add_argument("--retry", metavar="ID|all", help="make one delivery (or all) due now")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p = add("demo", cmd_demo, "serve bundled sample feeds on loopback and show the alerts")
    p.add_argument("--data-dir", metavar="DIR", help="where the demo keeps its state")
    sources = add("sources", _needs_subcommand, "import, export and discover feed sources")
    _add_sources_commands(sources, common)
    database = add("db", _needs_subcommand, "check the database; copy SQLite to PostgreSQL")
    _add_db_commands(database, common)
    return parser


def _add_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser, name: str, func: Command,
                 help: str) -> argparse.ArgumentParser:  # noqa: A002
    """Add command ``name``, running ``func``, with the common options."""
    p = subparsers.add_parser(name, parents=[common], help=help, description=help)
    p.set_defaults(func=func)
    return p


def _add_sources_commands(sources: argparse.ArgumentParser,
                          common: argparse.ArgumentParser) -> None:
    """The subcommands of `monitor sources`: import, export, discover."""
    nested = sources.add_subparsers(dest="sources_command", metavar="SUBCOMMAND")
    add_nested = functools.partial(_add_command, nested, common)
    p = add_nested("import", cmd_sources_import,
                   "read an OPML file and print its feeds as [[sources]] TOML")
    p.add_argument("file", metavar="FILE.opml", help="an OPML 1.0 or 2.0 subscription list")
    p.add_argument("--write", action="store_true",
                   help="append them to the config instead (validated first; a .bak kept)")
    add_nested("export", cmd_sources_export, "print the configured feed sources as OPML 2.0")
    p = add_nested("discover", cmd_sources_discover,
                   "list the feeds a site or article page advertises")
    p.add_argument("url", metavar="URL", help="a site or article page (or a feed)")
    p.add_argument("--add", metavar="N", nargs="?", type=int, const=0, default=None,
                   help="append feed N of the list to the config (N may be left out "
                        "when there is only one)")


def _add_db_commands(database: argparse.ArgumentParser,
                     common: argparse.ArgumentParser) -> None:
    """The subcommands of `monitor db`: check, copy."""
    nested = database.add_subparsers(dest="db_command", metavar="SUBCOMMAND")
    add_nested = functools.partial(_add_command, nested, common)
    add_nested("check", cmd_db_check, "the database's schema version and integrity; exit 1 "
               "when a check fails")
    p = add_nested("copy", cmd_db_copy, "copy every source state, item, story and delivery "
                   "of a SQLite database into a PostgreSQL one")
    p.add_argument("--from", dest="source", metavar="PATH", required=True,
                   help="the SQLite database file (stop the daemon using it first)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--to", metavar="URL", help="the PostgreSQL database, "
                        "postgresql://user@host/name (default: [monitor] database when it is "
                        "one); a password is better in PGPASSWORD or --to-env")
    target.add_argument("--to-env", metavar="VAR",
                        help="the environment variable holding the postgresql:// URL")
    p.add_argument("--replace", action="store_true",
                   help="delete what the PostgreSQL database holds first (else a database "
                        "that holds rows is refused)")


def _needs_subcommand(args: argparse.Namespace) -> int:
    if args.command == "db":
        raise ConfigError("choose a subcommand: monitor db check|copy (see monitor db --help)")
    raise ConfigError("choose a subcommand: monitor sources import|export|discover "
                      "(see monitor sources --help)")


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    log_to_stderr(level)
    for noisy in ("apscheduler", "urllib3", "mail.log", "uvicorn"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("config", "verbose", "quiet"):
        if not hasattr(args, name):
            setattr(args, name, None)
    _setup_logging(args)
    try:
        command: Callable[[argparse.Namespace], int] = args.func
        return command(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except BrokenPipeError:  # `monitor status | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
