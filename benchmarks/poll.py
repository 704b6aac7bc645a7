"""Poll-cycle benchmark: news-monitor against a local feed farm, beside a naive baseline.

    python benchmarks/poll.py --feeds 1000 --latency 0.2
    python benchmarks/poll.py --feeds 10000 --latency 0 --cycles 10
    python benchmarks/poll.py --feeds 1000 --latency 0.2 --failing 0.1
    python benchmarks/poll.py --feeds 1000 --latency 0.2 --articles candidates
    python benchmarks/poll.py --feeds 1000 --latency 0 --database postgresql://postgres@127.0.0.1/postgres

The farm runs in its own process on loopback addresses 127.0.0.2 ... (one server per host,
`--hosts` of them) and serves N realistic RSS feeds of 30-60 items with ETag and
Last-Modified, an optional latency per request, and failure injection (500s, timeouts,
malformed XML, a server trickling bytes). The monitor runs one full cycle, then cycles where
nothing changed; each prints wall time, CPU time (this process, all threads) and memory.
The baseline is a sequential requests + feedparser loop over the same feeds (on a sample
when --baseline-sample is set, scaled to N).

--articles sets [monitor] fetch_articles (default "never": the farm's links then point to
hosts nobody serves). With "candidates" or "all", each item links to an article page the
farm serves on the feed's own host (about 5 KB of HTML, with the same latency), and each
cycle also prints the article reads (fetched, from cache, failed, skipped for budget).

The monitor's state is a temporary SQLite file, or with --database a scratch database
created on that PostgreSQL server (and dropped).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import multiprocessing
import random
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.app import build_app  # noqa: E402
from monitor.config import SourceConfig, load_config_data  # noqa: E402
from monitor.scheduler import poll_sources  # noqa: E402
from monitor.types import PollOutcome  # noqa: E402
from monitor.urls import shown_database  # noqa: E402

WORDS = ("minister talks border trade council election ministry flood court army protest "
         "budget summit envoy delegation pipeline drought harvest reform strike coalition "
         "parliament inquiry ceasefire rally airport vaccine schools bank").split()
PLACES = ("Kabul Islamabad Tashkent Doha Moscow Beijing Ankara Tehran Delhi Dushanbe "
          "Astana Bishkek Geneva Brussels").split()


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


def make_feed(index: int, rng: random.Random, links: str = "", hosts: int = 250,
              port: int = 8901) -> bytes:
    """A farm feed; ``links`` "farm" points its items to the farm's article pages."""
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
            f"</description><pubDate>{formatdate(time.time() - n * 600, usegmt=True)}"
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


def run_farm(feeds: int, hosts: int, latency: float, failing: float, ready: object,
             stop: object, links: str = "", port: int = 8901) -> None:
    rng = random.Random(1)
    bodies = [make_feed(i, rng, links, hosts, port) for i in range(feeds)]
    etags = [hashlib.sha1(b).hexdigest()[:16] for b in bodies]
    modified = formatdate(time.time() - 3600, usegmt=True)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/article/"):
                self._article()
                return
            try:
                index = int(self.path.rsplit("/", 1)[1].split(".")[0])
                body = bodies[index]
            except (ValueError, IndexError):
                self.send_error(404)
                return
            if latency:
                time.sleep(latency)
            kind = failure_kind(index, failing)
            if kind == "500":
                self.send_error(500)
                return
            if kind == "timeout":
                time.sleep(30)
                return
            if kind == "malformed":
                body = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Cut <<'

            etag = f'"{etags[index]}"'
            if kind is None and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if kind == "trickle":
                try:
                    for i in range(0, min(len(body), 200)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(1)
                except (BrokenPipeError, ConnectionResetError):
                    pass    # the monitor gave up at its deadline, as it should
                return
            self.wfile.write(body)

        def _article(self) -> None:
            parts = self.path.split("/")       # "", "article", index, "n.html"
            try:
                index, n = int(parts[2]), int(parts[3].split(".")[0])
            except (ValueError, IndexError):
                self.send_error(404)
                return
            if latency:
                time.sleep(latency)
            body = make_article(index, n)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    servers = []
    for h in range(hosts):
        server = ThreadingHTTPServer((f"127.0.{h // 250}.{2 + h % 250}", port), Handler)
        server.daemon_threads = True
        server.request_queue_size = 128
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    ready.set()  # type: ignore[attr-defined]
    stop.wait()  # type: ignore[attr-defined]


def feed_url(index: int, hosts: int, port: int = 8901) -> str:
    h = index % hosts
    return f"http://127.0.{h // 250}.{2 + h % 250}:{port}/feed/{index}.xml"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(urls: list[str]) -> tuple[float, float]:
    import feedparser
    import requests

    session = requests.Session()
    wall, cpu = time.perf_counter(), time.process_time()
    for url in urls:
        try:
            response = session.get(url, timeout=(5, 5))
            feedparser.parse(response.content)
        except requests.RequestException:
            pass
    return time.perf_counter() - wall, time.process_time() - cpu


@contextmanager
def scratch_database(server: str | None, folder: str) -> Iterator[str]:
    """A SQLite file in ``folder``, or a new database on the PostgreSQL ``server``."""
    if server is None:
        yield f"{folder}/bench.db"
        return
    import psycopg

    name = f"monitor_bench_{random.getrandbits(40):010x}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
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
    parser.add_argument("--parse-workers", type=int, default=0,
                        help="parser processes (default 0: parse in the monitor's threads)")
    parser.add_argument("--port", type=int, default=8901,
                        help="the farm's port on each loopback host")
    parser.add_argument("--articles", default="never", choices=("never", "candidates", "all"),
                        help="[monitor] fetch_articles; not never: the farm serves articles")
    parser.add_argument("--article-budget", type=int, default=200,
                        help="[monitor] article_budget (fetches per poll_interval)")
    parser.add_argument("--baseline-sample", type=int, default=200,
                        help="feeds the baseline fetches (0: none; scaled to --feeds)")
    parser.add_argument("--database", metavar="URL",
                        help="a PostgreSQL server (postgresql://...): the state goes in a "
                             "scratch database created there, dropped after the run")
    args = parser.parse_args()

    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    farm = multiprocessing.Process(target=run_farm, daemon=True, args=(
        args.feeds, args.hosts, args.latency, args.failing, ready, stop,
        "" if args.articles == "never" else "farm", args.port))
    farm.start()
    if not ready.wait(120):
        sys.exit("the feed farm did not start")
    print(f"farm: {args.feeds} feeds on {args.hosts} loopback hosts, latency "
          f"{args.latency * 1000:.0f} ms, {args.failing:.0%} failing; monitor concurrency "
          f"{args.concurrency}, min_host_interval {args.min_host_interval}")

    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.database, tmp) as database:
        print(f"state: {shown_database(database)}")
        config = load_config_data({
            "monitor": {"database": database, "max_concurrency": args.concurrency,
                        "min_host_interval": args.min_host_interval, "max_per_host": 2,
                        "fetch_deadline": args.deadline, "read_timeout": args.deadline,
                        "connect_timeout": "5s", "max_age": "30d",
                        "parse_workers": args.parse_workers,
                        "fetch_articles": args.articles,
                        "article_budget": args.article_budget},
            "topics": [{"name": "taliban-recognition", "event": "recognition"}],
            "sources": [{"name": f"feed {i}", "url": feed_url(i, args.hosts, args.port)}
                        for i in range(args.feeds)],
            "notifiers": [{"name": "file", "type": "file", "path": f"{tmp}/digests.log"}]})
        app = build_app(config)
        finished: dict[str, float] = {}  # source -> perf_counter() when its poll ended
        poll = app.pipeline.poll

        def timed_poll(source: SourceConfig) -> PollOutcome:
            outcome = poll(source)
            finished[source.name] = time.perf_counter()
            return outcome

        app.pipeline.poll = timed_poll  # type: ignore[method-assign]
        try:
            for cycle in range(args.cycles):
                gc.collect()
                start, cpu = time.perf_counter(), time.process_time()
                finished.clear()
                outcomes = poll_sources(app, config.sources)
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                healthy_done = max((finished[o.source] - start
                                    for o in outcomes if o.error is None), default=0.0)
                counts: dict[str, int] = {}
                for o in outcomes:
                    counts[o.status] = counts.get(o.status, 0) + 1
                slow = sorted(o.duration for o in outcomes if o.error is None)
                p99 = slow[int(len(slow) * 0.99) - 1] if slow else 0.0
                print(f"cycle {cycle + 1}: wall {wall:6.2f} s  cpu {cpu:6.2f} s "
                      f"({cpu / args.feeds * 1000:.2f} ms/feed)  rss {rss_mb():6.1f} MB  "
                      f"peak {peak_mb():6.1f} MB  statuses {counts}  "
                      f"new items {sum(o.new for o in outcomes)}  "
                      f"p99 healthy poll {p99:.2f} s  healthy feeds all done after "
                      f"{healthy_done:.2f} s")
                if args.articles != "never":
                    reads = app.store.article_counts(app.clock() - timedelta(days=1))
                    print(f"  articles so far: {reads.fetched} fetched, {reads.from_cache} "
                          f"from cache, {reads.failed} failed, {reads.skipped} skipped for "
                          f"budget; matched {sum(o.matched for o in outcomes)}")
            states = app.store.source_states()
            failing = sum(1 for s in states if s.consecutive_failures)
            print(f"monitor status: {failing} sources failing, each with its last error "
                  f"recorded: {all(s.last_error for s in states if s.consecutive_failures)}")
        finally:
            app.close()

    if args.baseline_sample:
        sample = [feed_url(i, args.hosts, args.port)
                  for i in range(min(args.baseline_sample, args.feeds))
                  if failure_kind(i, args.failing) is None]
        wall, cpu = baseline(sample)
        scale = args.feeds / max(len(sample), 1)
        print(f"baseline (sequential requests + feedparser, {len(sample)} feeds, scaled to "
              f"{args.feeds}): wall {wall * scale:6.2f} s  cpu {cpu * scale:6.2f} s")
    stop.set()
    farm.join(5)


if __name__ == "__main__":
    main()
