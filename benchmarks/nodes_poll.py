"""Nodes sharing the work: the time for 1 or 2 `monitor run` nodes on one PostgreSQL database
to poll every feed of a local farm.

    python benchmarks/nodes_poll.py --feeds 10000 --nodes 1,2 [--postgres URL]

The farm is benchmarks/poll.py's (its own process, feeds spread over loopback hosts
127.0.0.2 ..., 0 ms latency). For each node count, a new database (dropped after), the nodes
started together (`monitor run`, one process each, the same config), and two cycles:

- first: from the nodes' start until every source has been polled once (every feed new);
- unchanged: every source made due at once (its next poll time set to now, in SQL), until
  every source has been polled again (the farm answers 304 to the nodes' ETags).

Printed per run: the wall time of each cycle, the polls each node made (its log's poll
lines), and each node's CPU time and peak memory (from /proc). On a machine of 2 cores the
PostgreSQL server and the farm share the cores with the nodes: say so with the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.nodes_chaos import POSTGRES_ENV, Database, scratch_database  # noqa: E402
from benchmarks.poll import feed_url, run_farm  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def write_config(path: Path, database: str, feeds: int, hosts: int) -> None:
    sources = "".join(f'[[sources]]\nname = "feed {i}"\nurl = "{feed_url(i, hosts)}"\n'
                      for i in range(feeds))
    path.write_text(f"""[monitor]
database = "{database}"
poll_interval = "6h"
max_concurrency = 32
max_per_host = 4
min_host_interval = "0s"
fetch_deadline = "10s"
fetch_articles = "never"

[[topics]]
name = "taliban-recognition"
event = "recognition"

{sources}""", encoding="utf-8")


def polled_since(db: Database, since: str) -> int:
    rows = db._rows("SELECT COUNT(*) FROM sources WHERE last_fetch_at >= %s::timestamptz",
                    (since,))
    return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]


def server_now(db: Database) -> str:
    return str(db._rows("SELECT clock_timestamp()::text")[0][0])


def proc_figures(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS in MB) of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


def wait_all(db: Database, since: str, feeds: int, timeout: float) -> float:
    started = time.monotonic()
    while polled_since(db, since) < feeds:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"only {polled_since(db, since)} of {feeds} polled")
        time.sleep(0.25)
    return time.monotonic() - started


def run(nodes: int, feeds: int, hosts: int, server: str, folder: Path) -> None:
    with scratch_database(server) as url:
        db = Database(url)
        config = folder / f"nodes-{nodes}.toml"
        write_config(config, url, feeds, hosts)
        logs = [folder / f"nodes-{nodes}-{i}.log" for i in range(nodes)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # The schema first, so that the nodes' start is not a race of migrations.
        subprocess.run([sys.executable, "-m", "monitor", "db", "check", "-c", str(config)],
                       cwd=REPO, capture_output=True, check=False)
        since = server_now(db)
        processes = [subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c",
                                       str(config)], cwd=REPO, env=env,
                                      stdout=log.open("wb"), stderr=subprocess.STDOUT)
                     for log in logs]
        try:
            first = wait_all(db, since, feeds, 1800)
            polls_first = [log.read_text().count("poll source=") for log in logs]
            since = server_now(db)
            db._rows("UPDATE sources SET next_poll_at = clock_timestamp() RETURNING 1")
            again = wait_all(db, since, feeds, 1800)
            polls = [log.read_text().count("poll source=") for log in logs]
            figures = [proc_figures(p.pid) for p in processes]
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(60)
        share = " + ".join(str(n) for n in polls_first)
        share_again = " + ".join(str(b - a) for a, b in zip(polls_first, polls, strict=True))
        cpu = ", ".join(f"{c:.1f} s" for c, _ in figures)
        peak = ", ".join(f"{m:.0f} MB" for _, m in figures)
        print(f"| {nodes} | {feeds} | {first:.1f} s ({share}) | {again:.1f} s ({share_again}) "
              f"| {cpu} | {peak} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=250)
    parser.add_argument("--nodes", default="1,2")
    parser.add_argument("--postgres", default=os.environ.get(POSTGRES_ENV))
    args = parser.parse_args(argv)
    if not args.postgres:
        parser.error(f"give --postgres URL or set {POSTGRES_ENV}")
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    farm = multiprocessing.Process(target=run_farm, args=(args.feeds, args.hosts, 0.0, 0.0,
                                                          ready, stop), daemon=True)
    farm.start()
    ready.wait(120)
    print("| nodes | feeds | first cycle (polls per node) | unchanged cycle (polls per node) "
          "| CPU per node (both cycles) | peak RSS per node |\n| --- | --- | --- | --- | --- "
          "| --- |", flush=True)
    try:
        with tempfile.TemporaryDirectory() as folder:
            for nodes in (int(n) for n in args.nodes.split(",")):
                run(nodes, args.feeds, args.hosts, args.postgres, Path(folder))
    finally:
        stop.set()
        farm.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
