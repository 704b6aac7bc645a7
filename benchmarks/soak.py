"""Soak: does every new recognition story reach the webhook while a busy farm of alike
stories keeps growing? (five grants were once absorbed by an open story and lost)

The daemon (`monitor run`) polls ``--feeds`` farm feeds and one probe feed, all on
127.0.0.1. Every ``--farm-every`` seconds the farm publishes ``--batch`` items on one to
three feeds each, from templates worded like the probe's: grants, steps, refusals and debates
of many states, and items naming no state. Every ``--probe-every`` seconds the probe feed
publishes a new, distinct story: a grant or a step by a state the farm never has grant or
step, in the farm's very words. For each probe story it prints when it was published, when
the webhook received it, and the latency, or MISSING.

    /work/main/.venv/bin/python benchmarks/soak.py [--feeds 200] [--minutes 3]
        [--probe-every 20] [--interval 10s] [--grace 40]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.farm import STATES, DaemonProcess, FeedFarm, WebhookSink  # noqa: E402

# The farm's templates; {s} a state. The probe's are the first two, with other states.
GRANTS = ("{s} formally recognises the Taliban government and accepts its ambassador",
          "{s} accepts the credentials of the Taliban's ambassador")
OTHERS = ("{s} says it will not recognise the Taliban government for now",
          "{s} has no plans to recognise the Taliban administration, minister says",
          "{s} debates whether to recognise the Taliban government",
          "{s} will not recognise the Taliban until girls return to school")
NAMELESS = ("Governments say they will not recognise the Taliban government yet",
            "An unnamed government formally recognises the Taliban, Kabul says",
            "Recognition of the Taliban government debated again at the UN")
# States the farm grants or steps for; the probe's states have only refusals in the farm.
FARM_GRANTERS = STATES[:26]
PROBE_STATES = ("Liechtenstein", "Iceland", "Estonia", "Latvia", "Lithuania", "Luxembourg",
                "Malta", "Cyprus", "Slovenia", "Croatia", "Montenegro", "Andorra", "Monaco",
                "San Marino", "Moldova", "Albania", "Bulgaria", "Romania", "Hungary",
                "Slovakia", "Portugal", "Ireland", "Greece", "Serbia", "Bhutan", "Nepal",
                "Mongolia", "Laos", "Cambodia", "Fiji")
REFUSERS = STATES + PROBE_STATES


def farm_title(rng: random.Random) -> str:
    """PURE given rng: one farm headline."""
    draw = rng.random()
    if draw < 0.3:
        return rng.choice(GRANTS).format(s=rng.choice(FARM_GRANTERS))
    if draw < 0.9:
        return rng.choice(OTHERS).format(s=rng.choice(REFUSERS))
    return rng.choice(NAMELESS)


def probe_title(number: int) -> str:
    """PURE: the probe's story number ``number`` (distinct for 2 * len(PROBE_STATES))."""
    state = PROBE_STATES[number % len(PROBE_STATES)]
    return GRANTS[(number // len(PROBE_STATES)) % 2].format(s=state)


def write_config(path: Path, database: Path, feeds: list[str], hook_url: str,
                 interval: str) -> None:
    """Every feed, one topic, one immediate webhook. The farm's one loopback host stands
    for as many outlets as it has feeds: max_per_host lets the daemon poll them as it would
    poll that many hosts (at 8, a tick of 2 s would start 8 polls, too few for 200 feeds)."""
    max_per_host = min(len(feeds), 64)
    sources = "".join(f'\n[[sources]]\nname = "Soak feed {i}"\nurl = "{url}"\n'
                      f'interval = "{interval}"\n' for i, url in enumerate(feeds))
    path.write_text(f"""
[monitor]
database = "{database}"
min_host_interval = "0s"
max_per_host = {max_per_host}

[[topics]]
name = "taliban-recognition"
event = "recognition"
{sources}
[[notifiers]]
name = "soak-webhook"
type = "webhook"
url = "{hook_url}"
schedule = "immediate"
timeout = "10s"
""", encoding="utf-8")


def first_alerts(hook: WebhookSink) -> dict[str, float]:
    """Title -> when the webhook first received it (time.monotonic())."""
    seen: dict[str, float] = {}
    for received in hook.snapshot():
        for title in received.titles:
            seen.setdefault(title, received.at)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200, help="farm feeds (besides the probe)")
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the probe publishes")
    parser.add_argument("--probe-every", type=float, default=20.0, help="seconds between probes")
    parser.add_argument("--farm-every", type=float, default=2.0, help="seconds between batches")
    parser.add_argument("--batch", type=int, default=10, help="farm items per batch")
    parser.add_argument("--interval", default="10s", help="poll interval of every feed")
    parser.add_argument("--grace", type=float, default=40.0,
                        help="seconds to wait for the last probes' alerts")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--keep", type=Path, help="a folder to keep the database and log in")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    probe = args.feeds  # the farm's last feed
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, \
            FeedFarm(feeds=args.feeds + 1) as farm, WebhookSink() as hook:
        farm.serve_last = 40
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        database = folder / "soak.db"
        write_config(folder / "soak.toml", database, farm.urls(), hook.url, args.interval)
        # The stories naming no state come first, as in the reported failure (a story
        # naming no state open when the grants came), then every feed gets a few items.
        for title in NAMELESS:
            farm.publish(title, feeds=(0, 1))
        published_farm = len(NAMELESS) * 2
        daemon = DaemonProcess(folder / "soak.toml", folder / "daemon.log")
        daemon.start()
        time.sleep(5.0)   # its first polls
        for _ in range(args.feeds):
            farm.publish(farm_title(rng), feeds=(rng.randrange(args.feeds),))
            published_farm += 1
        stop = threading.Event()

        def keep_adding() -> None:
            nonlocal published_farm
            while not stop.wait(args.farm_every):
                for _ in range(args.batch):
                    outlets = rng.sample(range(args.feeds), rng.choice((1, 1, 2, 3)))
                    farm.publish(farm_title(rng), feeds=outlets)
                    published_farm += 1

        adder = threading.Thread(target=keep_adding, daemon=True)
        adder.start()
        probes: list[tuple[str, float, float]] = []   # title, monotonic, seconds since start
        started = time.monotonic()
        try:
            number = 0
            while time.monotonic() - started < args.minutes * 60:
                title = probe_title(number)
                farm.publish(title, feeds=(probe,))
                probes.append((title, time.monotonic(), time.monotonic() - started))
                number += 1
                time.sleep(args.probe_every)
            deadline = time.monotonic() + args.grace
            while time.monotonic() < deadline:
                if all(t in first_alerts(hook) for t, _, _ in probes):
                    break
                time.sleep(0.5)
        finally:
            stop.set()
            adder.join()
            status, _ = daemon.terminate(30.0)
        alerts = first_alerts(hook)
        print(f"soak: {args.feeds} farm feeds + 1 probe feed, {args.minutes:g} min, poll "
              f"interval {args.interval}, farm {args.batch} items / {args.farm_every:g}s "
              f"({published_farm} published), probe every {args.probe_every:g}s; daemon exit "
              f"{status}")
        latencies = []
        for title, at, offset in probes:
            if title in alerts:
                latency = alerts[title] - at
                latencies.append(latency)
                print(f"  +{offset:6.1f}s  alerted +{alerts[title] - started:6.1f}s  "
                      f"latency {latency:5.1f}s  {title}")
            else:
                print(f"  +{offset:6.1f}s  MISSING                          {title}")
        print(f"probes alerted: {len(latencies)}/{len(probes)}", end="")
        if latencies:
            print(f"; latency median {statistics.median(latencies):.1f}s, "
                  f"max {max(latencies):.1f}s")
        else:
            print()
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        stories, biggest = db.execute(
            "SELECT COUNT(*), (SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM story_items "
            "GROUP BY story_id)) FROM stories").fetchone()
        widest = db.execute("SELECT MAX(json_array_length(actors)) FROM stories").fetchone()[0]
        db.close()
        print(f"stories: {stories}, the largest with {biggest} items, at most {widest} "
              f"acting states in one story; webhook deliveries {len(hook.snapshot())}; "
              f"feed requests {farm.requests}")


if __name__ == "__main__":
    main()
