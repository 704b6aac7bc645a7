"""One source floods, one stays healthy: the flood's poll time and the healthy source's wait.

    python benchmarks/flood.py                      # 10 polls of 1,000 new matches each
    python benchmarks/flood.py --cap 1000000        # no per-poll cap: the index alone
    python benchmarks/flood.py --polls 10 --flood 1000 --gap 0.25

Two RSS feeds on a loopback farm (benchmarks/farm.py), polled by the real pipeline of an
in-process app on a SQLite file. After a few quiet polls (two new items each), the
flooding feed serves ``--flood`` new headlines per poll that all match the topic
("Russia accepts the Taliban's ambassador in deal no. N", each a distinct story: the
numbers differ), and keeps them inside ``story_window``.
While each flood poll runs, the healthy feed publishes one story at a time and is polled,
every ``--gap`` seconds; its latency is the time from the start of its poll to its story
committed to the outbox (the notifiers' own delay comes after and is not counted).

Each line: the flood poll's wall time, its new items and the stories it queued, the open
stories of the topic, whether the source is marked flooding, and the healthy polls that ran
meanwhile (count, median and worst latency). Operator alerts about the flood are counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.farm import FeedFarm, story_titles  # noqa: E402
from monitor.app import App, build_app, utcnow  # noqa: E402
from monitor.config import SourceConfig, load_config_data  # noqa: E402
from monitor.decide import health  # noqa: E402
from monitor.types import PollOutcome  # noqa: E402

# Without a lead, and with few words besides the number, no two of these group into one
# story (numbers that clash lower the score below the threshold).
FLOOD_TITLE = "Russia accepts the Taliban's ambassador in deal no. {n}"
QUIET_TITLE = "Kabul market bulletin {n}: bread and fuel prices"


def build(tmp: Path, farm: FeedFarm, window: str, cap: int | None) -> App:
    flood_url, healthy_url = farm.urls()
    settings: dict[str, object] = {"database": str(tmp / "flood.db"), "min_host_interval": "0s",
                                   "max_per_host": 8, "story_window": window}
    if cap is not None:
        settings["max_new_per_poll"] = cap
    config = load_config_data({
        "monitor": settings,
        "topics": [{"name": "taliban-recognition", "event": "recognition",
                    "entities": ["Taliban", "Islamic Emirate of Afghanistan"]}],
        "sources": [{"name": "flooding wire", "url": flood_url},
                    {"name": "healthy wire", "url": healthy_url}],
        "notifiers": [{"name": "desk", "type": "file", "path": str(tmp / "desk.log")},
                      {"name": "ops", "type": "file", "path": str(tmp / "ops.log"),
                       "operator": True}]})
    return build_app(config)


def queued(app: App, title: str) -> bool:
    rows = app.store._query("SELECT 1 FROM outbox o JOIN stories s ON s.id = o.story_id "
                            "WHERE s.title = ? LIMIT 1", (title,))
    return bool(rows)


def count(app: App, sql: str) -> int:
    return int(app.store._query(sql)[0][0])


def poll_into(app: App, source: SourceConfig, result: list[PollOutcome],
              done: threading.Event) -> None:
    try:
        result.append(app.pipeline.poll(source))
    finally:
        done.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=10, help="flood polls (default 10)")
    parser.add_argument("--flood", type=int, default=1000, help="new matches per flood poll")
    parser.add_argument("--quiet", type=int, default=5, help="quiet polls before the flood")
    parser.add_argument("--gap", type=float, default=0.25,
                        help="seconds between two healthy polls during a flood poll")
    parser.add_argument("--window", default="1d", help="story_window")
    parser.add_argument("--cap", type=int, default=None,
                        help="max_new_per_poll (default: the config's default)")
    args = parser.parse_args()

    healthy_titles = iter([t for t in story_titles(156) if not t.startswith("Russia")])
    with tempfile.TemporaryDirectory() as tmp, FeedFarm(feeds=2) as farm:
        farm.serve_last = args.flood      # a feed lists its newest items only
        app = build(Path(tmp), farm, args.window, args.cap)
        flood_source, healthy_source = app.config.sources
        serial = 0
        try:
            for _ in range(args.quiet):
                for feed in (0, 1):
                    for _ in range(2):
                        serial += 1
                        farm.publish(QUIET_TITLE.format(n=serial), feeds=(feed,))
                app.pipeline.poll(flood_source)
                app.pipeline.poll(healthy_source)
            cap = getattr(app.config.monitor, "max_new_per_poll", "none")
            print(f"flood: {args.polls} polls of {args.flood} new matching headlines, after "
                  f"{args.quiet} quiet polls of 2 new items; story_window {args.window}; "
                  f"max_new_per_poll {cap}")
            print("poll  flood_s  new   queued  open_stories  flag      healthy_polls  "
                  "healthy_median_s  healthy_worst_s")
            totals: list[float] = []
            worst_all: list[float] = []
            for poll in range(1, args.polls + 1):
                for _ in range(args.flood):
                    serial += 1
                    farm.publish(FLOOD_TITLE.format(n=serial), feeds=(0,))
                before = count(app, "SELECT COUNT(*) FROM outbox")
                done = threading.Event()
                result: list[PollOutcome] = []
                thread = threading.Thread(target=poll_into, daemon=True,
                                          args=(app, flood_source, result, done))
                thread.start()
                latencies: list[float] = []
                lost: list[str] = []
                while not done.is_set():
                    title = next(healthy_titles)
                    farm.publish(title, feeds=(1,))
                    outcome = app.pipeline.poll(healthy_source)
                    latencies.append(outcome.duration)
                    if not queued(app, title):
                        lost.append(title)
                    done.wait(args.gap)
                thread.join()
                flood = result[0]
                state = app.store.source_state(flood_source.name)
                flag = health(state, utcnow(), app.config.interval(flood_source))
                healthy_queued = len(latencies) - len(lost)
                flood_queued = count(app, "SELECT COUNT(*) FROM outbox") - before \
                    - healthy_queued * len(app.pipeline.subscribers["taliban-recognition"])
                open_stories = count(app, "SELECT COUNT(*) FROM stories")
                totals.append(flood.duration)
                worst_all.append(max(latencies))
                print(f"{poll:4d}  {flood.duration:7.2f}  {flood.new:4d}  {flood_queued:6d}  "
                      f"{open_stories:12d}  {flag:8}  {len(latencies):13d}  "
                      f"{statistics.median(latencies):16.3f}  {max(latencies):15.3f}"
                      + (f"  NOT QUEUED: {lost}" if lost else ""))
            alerts = count(app, "SELECT COUNT(*) FROM deliveries WHERE kind = 'health'")
            print(f"flood poll: first {totals[0]:.2f}s, last {totals[-1]:.2f}s, "
                  f"mean {statistics.mean(totals):.2f}s; healthy worst over all polls "
                  f"{max(worst_all):.3f}s; operator alerts queued: {alerts}")
        finally:
            app.close()


if __name__ == "__main__":
    main()
