"""How long a fetch listens to a server that trickles its answer, against fetch_deadline,
and how soon a healthy source is polled while trickling hosts hold every fetch slot.

    python benchmarks/trickle.py [--deadline 15] [--interval 1]

Part 1: one fetch per kind of trickle (the status line, a header's value, header after
header, a chunk-size line, the body, a TLS handshake), all at once; each server sends one
byte every ``--interval`` seconds for up to ten deadlines. Prints the time each fetch gave
up and its error. Part 2: ``once`` (poll_sources) over two trickling hosts and one healthy
source with max_concurrency = 2; prints when the healthy source's poll finished and when
the trickling ones were recorded as errors. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.app import build_app  # noqa: E402
from monitor.config import MonitorSettings, load_config_data  # noqa: E402
from monitor.errors import FetchError  # noqa: E402
from monitor.fetch import HttpFetcher  # noqa: E402
from monitor.scheduler import poll_sources  # noqa: E402
from tests.loopback import LoopbackHTTPServer, Response, TricklingServer  # noqa: E402

KINDS = {
    "status line": (b"", b"H", "http"),
    "header value": (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a", "http"),
    "header after header": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", b"X-A: b\r\n", "http"),
    "chunk-size line": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"0", "http"),
    "body": (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x", "http"),
    "TLS handshake": (b"\x16\x03\x03\x40\x00", b"\x02", "https"),
}
FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
        b"<item><title>Harbour reopens after the storm</title>"
        b"<link>https://desk.example/harbour</link><guid>h1</guid></item></channel></rss>")


def fetch_each_kind(deadline: int, interval: float) -> None:
    settings = MonitorSettings(fetch_deadline=f"{deadline}s", read_timeout="60s",
                               connect_timeout="60s", allow_private_networks=True)
    servers = {kind: TricklingServer(head, drip, read_request=scheme == "http",
                                     interval=interval, limit=int(10 * deadline / interval))
               for kind, (head, drip, scheme) in KINDS.items()}
    results: dict[str, tuple[float, str]] = {}

    def run(kind: str, fetcher: HttpFetcher) -> None:
        started = time.monotonic()
        try:
            fetcher.fetch(servers[kind].url(KINDS[kind][2]))
            message = "no error"
        except FetchError as exc:
            message = str(exc)
        results[kind] = (time.monotonic() - started, message)

    with HttpFetcher(settings) as fetcher:
        threads = [threading.Thread(target=run, args=(kind, fetcher)) for kind in KINDS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for server in servers.values():
        server.close()
    print(f"fetch_deadline = {deadline}s, one byte every {interval:g}s "
          f"(read_timeout and connect_timeout 60s)")
    for kind in KINDS:
        elapsed, message = results[kind]
        print(f"  {kind:<20} gave up after {elapsed:6.2f}s  "
              f"({servers[kind].trickled} bytes trickled): {message}")


def once_with_trickling_hosts(deadline: int, interval: float) -> None:
    slow = [TricklingServer(b"HTTP/1.1 200 OK\r\nX-Slow: ", interval=interval,
                            limit=int(10 * deadline / interval)) for _ in range(2)]
    with tempfile.TemporaryDirectory() as tmp, LoopbackHTTPServer() as healthy:
        healthy.route("/feed.xml", Response(body=FEED))
        sources = [{"name": f"trickling-{n}", "url": s.url()} for n, s in enumerate(slow)]
        sources.append({"name": "healthy", "url": healthy.url("/feed.xml")})
        config = load_config_data({
            "monitor": {"database": str(Path(tmp) / "m.db"), "max_concurrency": 2,
                        "fetch_deadline": f"{deadline}s", "read_timeout": "60s",
                        "min_host_interval": "0s"},
            "topics": [{"name": "t", "event": "recognition"}], "sources": sources})
        app = build_app(config)
        started = time.monotonic()
        finished: dict[str, float] = {}
        try:
            poll_sources(app, app.config.sources,
                         on_done=lambda o: finished.setdefault(o.source,
                                                               time.monotonic() - started))
            print(f"once: 2 trickling hosts + 1 healthy source, max_concurrency = 2, "
                  f"fetch_deadline = {deadline}s")
            for name in [s["name"] for s in sources]:
                state = app.store.source_state(name)
                print(f"  {name:<12} done after {finished[name]:6.2f}s: "
                      f"{state.last_error or 'ok'}")
        finally:
            app.close()
            for server in slow:
                server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", type=int, default=15, help="fetch_deadline, seconds")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between two trickled bytes")
    args = parser.parse_args()
    fetch_each_kind(args.deadline, args.interval)
    once_with_trickling_hosts(args.deadline, args.interval)


if __name__ == "__main__":
    main()
