"""Poll-cycle benchmark: news-monitor against a local feed farm, beside a naive baseline.

    python benchmarks/poll.py --feeds 10000 --latency 0 --cycles 10
    python benchmarks/poll.py --feeds 2000 --latency 0 --workers 1
    python benchmarks/poll.py --feeds 1000 --latency 0.2 --failing 0.1
    python benchmarks/poll.py --feeds 10000 --database postgresql://postgres@127.0.0.1/bench
    python benchmarks/poll.py --feeds 1000 --latency 0.2 --articles candidates
    python benchmarks/poll.py --feeds 10000 --latency 0 --cycles 2 --stages

The farm runs in its own process on loopback addresses 127.0.0.2 ... (one listener per
host, `--hosts` of them, all on one asyncio loop so that serving costs little CPU) and
serves N RSS feeds of 30-60 items (45 on average) published in the last ten hours, so
within max_age: a first poll really classifies, groups and queues them, as on a new
install watching live news. Responses carry ETag and Last-Modified and answer a matching
If-None-Match with a 304; an optional latency per request; failure injection (500s,
timeouts, malformed XML, a server trickling bytes).

The baseline runs in its own process: requests with a pool of 32 threads and
fastfeedparser, conditional GETs, a keyword match ("taliban") on title and summary, nothing
stored. Each cycle runs the baseline's cycle, then the monitor's (`poll_claimed`, as
`monitor once`: every source claimed, its state read with the claim, and polled; with
--no-claims, the polls alone, as the figures before that option measured), on the same
farm. The first cycle finds every feed new; the others find nothing changed. For
each cycle: wall time, CPU time of all the monitor's processes (the daemon's and its
workers'), CPU per feed, each process's peak RSS, and the ratio of the monitor's wall time
to the baseline's.

--articles sets [monitor] fetch_articles (default "never": the farm's links then point to
hosts nobody serves). With "candidates" or "all", each item links to an article page the
farm serves on the feed's own host (about 5 KB of HTML, with the same latency), and each
cycle also prints the article reads (fetched, from cache, failed, skipped for budget).
--port: the farm's port on each loopback host (another farm may hold 8901).
--stages: each cycle also prints where the daemon's poll threads spent their CPU (fetch,
the hand-off to a worker and back, grouping, on PostgreSQL the items inserted before the
record lock, the URL re-check, settling, the commit), the daemon's user and system time,
and how long its record lock was held; with --database, also the CPU time of the
PostgreSQL server's processes on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.utils import formatdate
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.urls import shown_database  # noqa: E402

WORDS = ("minister talks border trade council election ministry flood court army protest "
         "budget summit envoy delegation pipeline drought harvest reform strike coalition "
         "parliament inquiry ceasefire rally airport vaccine schools bank").split()
PLACES = ("Kabul Islamabad Tashkent Doha Moscow Beijing Ankara Tehran Delhi Dushanbe "
          "Astana Bishkek Geneva Brussels").split()
KEYWORD = "taliban"


def article_url(index: int, n: int, hosts: int, port: int = 8901) -> str:
    h = index % hosts
    return f"http://127.0.{h // 250}.{2 + h % 250}:{port}/article/{index}/{n}.html"


def make_article(index: int, n: int) -> bytes:
    """An article page of the farm: a menu, the story (ten sentences of farm words), a
    related box and a footer, about 5 KB."""
    rng = random.Random(index * 1000 + n)
    story = "".join(
        f"<p>{rng.choice(PLACES)} {' '.join(rng.choice(WORDS) for _ in range(18))}.</p>"
        for _ in range(10))
    related = "".join(f'<li><a href="/article/{index}/{k}.html">{rng.choice(PLACES)} '
                      f"{' '.join(rng.choice(WORDS) for _ in range(6))}</a></li>"
                      for k in range(8))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Story {n}</title>"
            f"</head><body><header><nav><a href='/'>Home</a> <a href='/world'>World</a> "
            f"<a href='/sport'>Sport</a></nav></header><main><article><h1>Story {n}</h1>"
            f"{story}</article><aside><h2>Related</h2><ul>{related}</ul></aside></main>"
            f"<footer><p>Copyright Feed {index}</p></footer></body></html>").encode()


def make_feed(index: int, rng: random.Random, now: float | None = None, links: str = "",
              hosts: int = 250, port: int = 8901) -> bytes:
    """An RSS feed of 30-60 items, the newest published ``now``, one every ten minutes;
    ``links`` "farm" points its items to the farm's article pages."""
    now = time.time() if now is None else now
    items = []
    for n in range(rng.randint(30, 60)):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 9)))
        place = rng.choice(PLACES)
        title = f"{place} {words}"
        if n == 0 and index % 50 == 0:
            title = f"{place} accepts credentials of Taliban ambassador {index}"
        link = article_url(index, n, hosts, port) if links == "farm" \
            else f"https://news{index}.example/{n}"
        items.append(
            f"<item><title>{title}</title><link>{link}</link>"
            f"<guid>https://news{index}.example/{n}</guid>"
            f"<description>{title.capitalize()}. {' '.join(rng.choice(WORDS) for _ in range(25))}"
            f"</description><pubDate>{formatdate(now - n * 600, usegmt=True)}"
            f"</pubDate></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {index}</title><link>https://news{index}.example/</link>"
            f"<description>Benchmark feed</description>{''.join(items)}</channel></rss>"
            ).encode()


def failure_kind(index: int, failing: float) -> str | None:
    """Deterministic failure injection: which feeds fail, and how."""
    if failing <= 0 or (index * 7919) % 1000 >= failing * 1000:
        return None
    return ("500", "timeout", "malformed", "trickle")[index % 4]


def feed_url(index: int, hosts: int, port: int = 8901) -> str:
    h = index % hosts
    return f"http://127.0.{h // 250}.{2 + h % 250}:{port}/feed/{index}.xml"


# -- the farm -------------------------------------------------------------------------------

MALFORMED = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Cut <<'


def _response(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers,
                                                  "Content-Length": str(len(body))}.items())
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode() + body


class _Farm:
    """Every feed's responses, made once: serving one is a dictionary lookup."""

    def __init__(self, feeds: int, latency: float, failing: float, links: str = "",
                 hosts: int = 250, port: int = 8901) -> None:
        rng = random.Random(1)
        now = time.time()
        modified = formatdate(now - 3600, usegmt=True)
        self.latency = latency
        self.kinds = [failure_kind(i, failing) for i in range(feeds)]
        self.full: list[bytes] = []
        self.not_modified: list[bytes] = []
        self.etags: list[bytes] = []
        for i in range(feeds):
            body = make_feed(i, rng, now, links, hosts, port)
            etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
            if self.kinds[i] == "malformed":
                body = MALFORMED
            headers = {"Content-Type": "application/rss+xml", "ETag": etag,
                       "Last-Modified": modified}
            self.full.append(_response("200 OK", headers, body))
            self.not_modified.append(_response("304 Not Modified", {"ETag": etag}))
            self.etags.append(etag.encode())
        self.error = _response("500 Internal Server Error", {})
        self.missing = _response("404 Not Found", {})

    def answer(self, head: bytes) -> tuple[str | None, bytes]:
        """(failure kind, response) for one request head."""
        lines = head.split(b"\r\n")
        try:
            target = lines[0].split(b" ")[1]
            if target.startswith(b"/article/"):
                return None, self.article(target.decode())
            index = int(target.rsplit(b"/", 1)[1].split(b".")[0])
            kind = self.kinds[index]
        except (ValueError, IndexError):
            return None, self.missing
        if kind == "500":
            return kind, self.error
        if kind is None:
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"if-none-match" and value.strip() == self.etags[index]:
                    return None, self.not_modified[index]
        return kind, self.full[index]

    def article(self, path: str) -> bytes:
        parts = path.split("/")       # "", "article", index, "n.html"
        try:
            index, n = int(parts[2]), int(parts[3].split(".")[0])
        except (ValueError, IndexError):
            return self.missing
        return _response("200 OK", {"Content-Type": "text/html; charset=utf-8"},
                         make_article(index, n))


class _FeedServer(asyncio.Protocol):
    def __init__(self, farm: _Farm) -> None:
        self.farm = farm
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            kind, response = self.farm.answer(head)
            if kind == "timeout":
                continue                       # never answers: the client's deadline ends it
            if kind == "trickle":
                self._trickle(response, 0)
            elif self.farm.latency:
                asyncio.get_running_loop().call_later(self.farm.latency, self._send, response)
            else:
                self._send(response)

    def _send(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)

    def _trickle(self, response: bytes, sent: int) -> None:
        """One byte a second, for 200 seconds at most."""
        if sent < min(len(response), 200):
            self._send(response[sent:sent + 1])
            asyncio.get_running_loop().call_later(1.0, self._trickle, response, sent + 1)


def run_farm(feeds: int, hosts: int, latency: float, failing: float, ready: Any,
             stop: Any, links: str = "", port: int = 8901) -> None:
    farm = _Farm(feeds, latency, failing, links, hosts, port)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for h in range(hosts):
            await loop.create_server(lambda: _FeedServer(farm), f"127.0.{h // 250}.{2 + h % 250}",
                                     port, backlog=512)
        ready.set()
        await loop.run_in_executor(None, stop.wait)

    asyncio.run(serve())


# -- processes: CPU and memory --------------------------------------------------------------

def _proc_stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads."""
    try:
        fields = _proc_stat(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float:
    """User + system CPU time of this machine's PostgreSQL server processes (every process
    named postgres, of any cluster), with that of their exited children (a backend that
    ended is counted in its parent's)."""
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() != "postgres":
                    continue
                fields = _proc_stat(int(entry))
            except OSError:
                continue
            total += sum(int(f) for f in fields[11:15])   # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def descendants(pid: int, leave_out: set[int]) -> list[int]:
    """The processes under ``pid`` (children, theirs...), without ``leave_out`` and theirs."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents.setdefault(int(_proc_stat(int(entry))[1]), []).append(int(entry))
            except OSError:
                continue
    found, todo = [], [c for c in parents.get(pid, []) if c not in leave_out]
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(c for c in parents.get(child, []) if c not in leave_out)
    return found


def memory_mb(pid: int, key: str = "VmHWM") -> float:
    """A process's peak (VmHWM) or current (VmRSS) resident memory."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# -- the baseline ---------------------------------------------------------------------------

def run_baseline(conn: Connection, urls: list[str]) -> None:
    """A naive poller in its own process: one cycle each time it is asked."""
    from concurrent.futures import ThreadPoolExecutor

    import fastfeedparser
    import requests

    local = threading.local()
    validators: dict[str, dict[str, str]] = {}

    def poll(url: str) -> tuple[int, int]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        try:
            response = session.get(url, timeout=5, headers=validators.get(url, {}))
            if response.status_code != 200:
                return response.status_code, 0
            feed = fastfeedparser.parse(response.content)
        except Exception:  # noqa: BLE001 - a naive poller shrugs
            return 0, 0
        kept = {"If-None-Match": response.headers.get("ETag"),
                "If-Modified-Since": response.headers.get("Last-Modified")}
        validators[url] = {k: v for k, v in kept.items() if v}
        matches = sum(1 for e in feed.entries if KEYWORD in (
            f"{e.get('title') or ''} {e.get('description') or ''}").lower())
        return 200, matches

    with ThreadPoolExecutor(32) as pool:
        while conn.recv():
            wall, cpu = time.perf_counter(), time.process_time()
            results = list(pool.map(poll, urls))
            conn.send((time.perf_counter() - wall, time.process_time() - cpu,
                       sum(1 for s, _ in results if s == 200),
                       sum(m for _, m in results), memory_mb(os.getpid())))


# -- the monitor ----------------------------------------------------------------------------

def monitor_config(args: argparse.Namespace, tmp: str, database: str) -> dict[str, Any]:
    monitor: dict[str, Any] = {
        "database": database, "max_concurrency": args.concurrency,
        "min_host_interval": args.min_host_interval, "max_per_host": 2,
        "fetch_deadline": args.deadline, "read_timeout": args.deadline,
        "connect_timeout": "5s", "fetch_articles": args.articles,
        "article_budget": args.article_budget}
    if args.workers is not None:      # absent: the code's default (and code without the key)
        monitor["workers"] = args.workers if args.workers == "auto" else int(args.workers)
    return {"monitor": monitor,
            "topics": [{"name": "taliban-recognition", "event": "recognition"}],
            "sources": [{"name": f"feed {i}", "url": feed_url(i, args.hosts, args.port)}
                        for i in range(args.feeds)],
            "notifiers": [{"name": "file", "type": "file", "path": f"{tmp}/digests.log"}]}


def timed_polls(app: Any) -> dict[str, float]:
    """Wrap the pipeline's poll: source -> perf_counter() when its poll ended."""
    finished: dict[str, float] = {}
    poll = app.pipeline.poll

    def timed_poll(source: Any) -> Any:
        outcome = poll(source)
        finished[source.name] = time.perf_counter()
        return outcome

    app.pipeline.poll = timed_poll
    return finished


class Stages:
    """--stages: where the daemon's poll threads spend their CPU, per stage (thread CPU
    time, so a thread waiting for the GIL, a worker or the server is not counted), and how
    long the pipeline's record lock is held, wall time: a poll's URL re-check, story
    settling and commit run under it one poll at a time (with PostgreSQL, also under the
    cluster's advisory lock, whose round trips count). Each stage wraps a method of this
    app's pipeline, committer or grouper, on the instance, or a function the committer's
    module calls; "sift" is the hand-off to a worker and back, which now also settles and
    commits the poll there (with `workers = 1`, the sifting itself). Only the daemon's
    threads are timed: with workers, the grouping, re-check, settling and commit of most
    polls happen in the workers, and only the polls whose articles are read are committed
    in the daemon; the record lock's time is then the daemon's holding of it."""

    def __init__(self, app: Any) -> None:
        self.cpu: dict[str, float] = {}
        self.polls = 0
        self.held = 0.0
        self._lock = threading.Lock()
        pipeline = app.pipeline
        committer = getattr(pipeline, "committer", pipeline)   # older code: the pipeline
        for obj, method, stage in ((pipeline, "_fetch", "fetch"),
                                   (pipeline, "_sift", "sift"),
                                   (pipeline.grouper, "group", "group"),
                                   (committer, "_recheck_urls", "re-check URLs"),
                                   (pipeline.grouper, "settle", "settle stories"),
                                   (pipeline, "_record", "commit"),
                                   (pipeline, "poll", "poll, in all")):
            setattr(obj, method, self._timed(getattr(obj, method), stage))
        committer._record_lock = _HeldTime(committer._record_lock, self)
        # A poll with new items commits through commit_in (on PostgreSQL after inserting
        # them before it takes the record lock), the others through _record.
        module = sys.modules[type(committer).__module__]
        module.insert_early = self._timed(module.insert_early,  # type: ignore[attr-defined]
                                          "insert items before the lock")
        module.commit_in = self._timed(module.commit_in, "commit")  # type: ignore[attr-defined]

    def _timed(self, method: Callable[..., Any], stage: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                spent = time.thread_time() - began
                with self._lock:
                    self.cpu[stage] = self.cpu.get(stage, 0.0) + spent
                    if stage == "poll, in all":
                        self.polls += 1
        return timed

    def add_held(self, seconds: float) -> None:
        with self._lock:
            self.held += seconds

    def reset(self) -> None:
        with self._lock:
            self.cpu.clear()
            self.polls = 0
            self.held = 0.0

    def report(self, wall: float, usage: tuple[float, float], server: float | None) -> None:
        """The cycle's figures; ``usage``: the daemon process's user and system time over
        the cycle (the benchmark's own bookkeeping included); ``server``: the PostgreSQL
        server's CPU, if measured."""
        polls = self.polls or 1
        parts = "  ".join(f"{stage} {seconds:.2f} s ({seconds / polls * 1e6:.0f} us)"
                          for stage, seconds in sorted(self.cpu.items(), key=lambda kv: -kv[1]))
        print(f"  daemon poll threads' CPU per stage (per poll, of {self.polls}): {parts}\n"
              f"  daemon process: user {usage[0]:.2f} s, system {usage[1]:.2f} s; record "
              f"lock held {self.held:.2f} s of the cycle's {wall:.2f} s"
              + (f"; PostgreSQL server processes on this machine: {server:.2f} s CPU"
                 if server is not None else ""), flush=True)


class _HeldTime:
    """The pipeline's record lock, adding up how long it is held (only its holder sets and
    reads the start)."""

    def __init__(self, lock: Any, stages: Stages) -> None:
        self._lock = lock
        self._stages = stages
        self._began = 0.0

    def __enter__(self) -> None:
        self._lock.acquire()
        self._began = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._stages.add_held(time.perf_counter() - self._began)
        self._lock.release()


def monitor_cycle(app: Any, poll_all: Callable[[Any], Any], finished: dict[str, float],
                  others: set[int]) -> dict[str, Any]:
    """One cycle of every source, with its wall time and its processes' CPU time."""
    gc.collect()
    me = os.getpid()
    before = {pid: cpu_seconds(pid) for pid in [me, *descendants(me, others)]}
    start = time.perf_counter()
    finished.clear()
    outcomes = poll_all(app)
    wall = time.perf_counter() - start
    cpus = {me: cpu_seconds(me) - before[me]}      # before scanning /proc for the workers
    pids = [me, *descendants(me, others)]
    cpus.update((pid, cpu_seconds(pid) - before.get(pid, 0.0)) for pid in pids[1:])
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    healthy = [o for o in outcomes if o.error is None]
    return {"wall": wall, "cpu": sum(cpus.values()), "cpus": cpus, "statuses": statuses,
            "new": sum(o.new for o in outcomes), "matched": sum(o.matched for o in outcomes),
            "healthy_done": max((finished[o.source] - start for o in healthy), default=0.0),
            "peaks": {pid: memory_mb(pid) for pid in pids},
            "rss": {pid: memory_mb(pid, "VmRSS") for pid in pids}}


def report(cycle: int, feeds: int, m: dict[str, Any], base: tuple[Any, ...] | None,
           farm_cpu: float) -> None:
    peaks = " ".join(f"{mb:.0f}" for mb in m["peaks"].values())
    cpus = " ".join(f"{s:.2f}" for s in m["cpus"].values())
    line = (f"cycle {cycle}: monitor wall {m['wall']:6.2f} s  cpu {m['cpu']:6.2f} s "
            f"({m['cpu'] / feeds * 1000:.2f} ms/feed; per process [{cpus}] s)  "
            f"peak RSS per process [{peaks}] MB  "
            f"statuses {m['statuses']}  new items {m['new']}  matched {m['matched']}  "
            f"healthy feeds done after {m['healthy_done']:.2f} s  farm cpu {farm_cpu:.2f} s")
    if base is not None:
        wall, cpu, fetched, matches, peak = base
        line += (f"\n         baseline wall {wall:6.2f} s  cpu {cpu:6.2f} s  "
                 f"({fetched} bodies, {matches} keyword matches, peak RSS {peak:.0f} MB)  "
                 f"-> monitor/baseline {m['wall'] / wall:.2f}x")
    print(line, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=250)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--failing", type=float, default=0.0, help="fraction of feeds failing")
    parser.add_argument("--cycles", type=int, default=2, help="cycles in all (first + unchanged)")
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--min-host-interval", default="0s")
    parser.add_argument("--deadline", default="5s", help="total deadline per fetch")
    parser.add_argument("--workers", default=None,
                        help='monitor.workers: a number or "auto" (default: the config default)')
    parser.add_argument("--database", metavar="URL", default=None,
                        help="a PostgreSQL server (postgresql://...): the state goes in a "
                             "scratch database created there, dropped after the run "
                             "(default: a new SQLite file)")
    parser.add_argument("--port", type=int, default=8901,
                        help="the farm's port on each loopback host")
    parser.add_argument("--articles", default="never", choices=("never", "candidates", "all"),
                        help="[monitor] fetch_articles; not never: the farm serves articles")
    parser.add_argument("--article-budget", type=int, default=200,
                        help="[monitor] article_budget (fetches per poll_interval)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline")
    parser.add_argument("--no-claims", action="store_true",
                        help="poll the configured sources without claiming them first (the "
                             "polls alone; `monitor once` claims them)")
    parser.add_argument("--stages", action="store_true",
                        help="also print the daemon's CPU per poll stage and how long its record "
                             "lock is held")
    parser.add_argument("--keep", action="store_true",
                        help="keep the PostgreSQL scratch database (its URL is printed; "
                             "benchmarks/pg_sizes.py measures it; drop it yourself)")
    return parser.parse_args()


@contextmanager
def scratch_database(server: str | None, folder: str, keep: bool = False) -> Iterator[str]:
    """A SQLite file in ``folder``, or a new database on the PostgreSQL ``server``, dropped
    after unless ``keep``."""
    if server is None:
        yield f"{folder}/bench.db"
        return
    import psycopg

    name = f"monitor_bench_{random.getrandbits(40):010x}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    try:
        yield url
    finally:
        if keep:
            print(f"database kept: {url}", flush=True)
        else:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    args = parse_args()
    ctx = multiprocessing.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    farm = ctx.Process(target=run_farm, daemon=True, args=(
        args.feeds, args.hosts, args.latency, args.failing, ready, stop,
        "" if args.articles == "never" else "farm", args.port))
    farm.start()
    if not ready.wait(300):
        sys.exit("the feed farm did not start")
    others = {farm.pid or 0}
    baseline: Connection | None = None
    if not args.no_baseline:
        baseline, child = ctx.Pipe()
        process = ctx.Process(target=run_baseline, daemon=True, args=(
            child, [feed_url(i, args.hosts, args.port) for i in range(args.feeds)]))
        process.start()
        others.add(process.pid or 0)

    from monitor import scheduler
    from monitor.app import build_app
    from monitor.config import load_config_data
    # `monitor once`: claim every source (the claim brings their states), then poll them;
    # --no-claims (and code older than the claims): poll the configured sources.
    claimed = None if args.no_claims else getattr(scheduler, "poll_claimed", None)
    poll_all = claimed or (lambda app: scheduler.poll_sources(app, app.config.sources))

    keep = args.keep and args.database is not None
    with tempfile.TemporaryDirectory() as tmp, \
            scratch_database(args.database, tmp, keep) as database:
        config = load_config_data(monitor_config(args, tmp, database))
        workers = getattr(config.monitor, "worker_count", lambda: "(no workers key)")()
        print(f"farm: {args.feeds} feeds on {args.hosts} loopback hosts, latency "
              f"{args.latency * 1000:.0f} ms, {args.failing:.0%} failing; monitor concurrency "
              f"{args.concurrency}, min_host_interval {args.min_host_interval}, workers "
              f"{workers}, database {shown_database(database)}; load {os.getloadavg()}",
              flush=True)
        app = build_app(config)
        finished = timed_polls(app)
        stages = Stages(app) if args.stages else None
        rss: list[dict[int, float]] = []
        try:
            for cycle in range(1, args.cycles + 1):
                base = None
                if baseline is not None:
                    baseline.send(True)
                    base = baseline.recv()
                farm_cpu = cpu_seconds(farm.pid or 0)
                if stages is not None:
                    stages.reset()
                usage = resource.getrusage(resource.RUSAGE_SELF)
                server = postgres_cpu() if stages is not None and args.database else None
                m = monitor_cycle(app, poll_all, finished, others)
                usage_after = resource.getrusage(resource.RUSAGE_SELF)
                if server is not None:
                    server = postgres_cpu() - server
                report(cycle, args.feeds, m, base, cpu_seconds(farm.pid or 0) - farm_cpu)
                if stages is not None:
                    stages.report(m["wall"], (usage_after.ru_utime - usage.ru_utime,
                                              usage_after.ru_stime - usage.ru_stime), server)
                if args.articles != "never":
                    reads = app.store.article_counts(app.clock() - timedelta(days=1))
                    print(f"  articles so far: {reads.fetched} fetched, {reads.from_cache} "
                          f"from cache, {reads.failed} failed, {reads.skipped} skipped for "
                          f"budget", flush=True)
                rss.append(m["rss"])
            states = app.store.source_states()
            failing = [s for s in states if s.consecutive_failures]
            print(f"monitor status: {len(failing)} sources failing, each with its last error "
                  f"recorded: {all(s.last_error for s in failing)}")
        finally:
            app.close()
    if len(rss) > 2:
        print("RSS after each cycle (MB, per process): " + "; ".join(
            " ".join(f"{mb:.0f}" for mb in r.values()) for r in rss))
    print(f"load after: {os.getloadavg()}")
    if baseline is not None:
        baseline.send(False)
    stop.set()
    farm.join(5)


if __name__ == "__main__":
    main()
