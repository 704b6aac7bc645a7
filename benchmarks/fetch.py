"""CPU per fetch of an unchanged source: HttpFetcher against a loopback server answering 304.

    python benchmarks/fetch.py                      # N=2000, sequential and 32 threads
    python benchmarks/fetch.py -n 5000 --threads 8 --hosts 4
    python benchmarks/fetch.py --status 200 --body-size 40000   # unchanged 200 bodies
    python benchmarks/fetch.py --only fetcher --profile          # cProfile of the hot path

Run it from the repository root. The server runs in its own process (asyncio, keep-alive,
one listening socket per loopback address 127.0.0.2 ...), so the CPU figures below are
this process only, all threads, user + system (``time.process_time``). For each client it
prints CPU ms per fetch and wall time, sequential and with ``--threads`` threads. The
clients: ``fetcher`` (monitor.fetch.HttpFetcher, conditional GET), and for reference a
bare ``urllib3`` PoolManager and a bare ``requests`` Session sending the same headers.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import pstats
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import MonitorSettings  # noqa: E402
from monitor.fetch import HttpFetcher  # noqa: E402

ETAG = '"feed-v1"'
LAST_MODIFIED = "Thu, 03 Jul 2025 10:00:00 GMT"


# -- the server (its own process) --------------------------------------------------------

def _response(status: int, body_size: int) -> bytes:
    head = [f"HTTP/1.1 {status} {'Not Modified' if status == 304 else 'OK'}",
            "Server: bench", f"Date: {formatdate(usegmt=True)}", f"ETag: {ETAG}",
            f"Last-Modified: {LAST_MODIFIED}", "Cache-Control: max-age=300"]
    body = b""
    if status != 304:
        body = (b"<rss><channel>" + b"x" * body_size)[:body_size]
        head += ["Content-Type: application/rss+xml", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _Answer(asyncio.Protocol):
    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")
        if count and self.transport is not None:
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4:]
            self.transport.write(self.payload * count)


def _serve(hosts: int, status: int, body_size: int, ready: multiprocessing.Queue) -> None:
    payload = _response(status, body_size)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        servers = []
        for i in range(hosts):
            servers.append(await loop.create_server(lambda: _Answer(payload),
                                                    f"127.0.0.{i + 2}", 0, backlog=256))
        ready.put([s.sockets[0].getsockname()[:2] for s in servers])
        await asyncio.sleep(3600)   # stopped by the parent; bounded in any case

    asyncio.run(main())


# -- the clients -----------------------------------------------------------------------

def fetcher_client(threads: int) -> tuple[Callable[[str], object], Callable[[], None]]:
    fetcher = HttpFetcher(MonitorSettings(max_concurrency=max(threads, 1)))

    def one(url: str) -> object:
        return fetcher.fetch(url, etag=ETAG, last_modified=LAST_MODIFIED)

    return one, fetcher.close


def _headers() -> dict[str, str]:
    return {"User-Agent": "bench", "Accept": "*/*", "Accept-Encoding": "gzip, deflate",
            "If-None-Match": ETAG, "If-Modified-Since": LAST_MODIFIED}


def urllib3_client(threads: int) -> tuple[Callable[[str], object], Callable[[], None]]:
    import urllib3

    pool = urllib3.PoolManager(num_pools=64, maxsize=max(threads, 2), retries=False)
    headers = _headers()

    def one(url: str) -> object:
        response = pool.request("GET", url, headers=headers, redirect=False,
                                timeout=urllib3.Timeout(connect=10, read=30))
        return response.status

    return one, pool.clear


def requests_client(threads: int) -> tuple[Callable[[str], object], Callable[[], None]]:
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=64, pool_maxsize=max(threads, 2), max_retries=0)
    session.mount("http://", adapter)
    headers = _headers()

    def one(url: str) -> object:
        response = session.get(url, headers=headers, timeout=(10, 30), allow_redirects=False)
        return response.status_code

    return one, session.close


CLIENTS = {"fetcher": fetcher_client, "urllib3": urllib3_client, "requests": requests_client}


def run(make: Callable[..., tuple[Callable[[str], object], Callable[[], None]]],
        urls: list[str], threads: int, profile: bool) -> tuple[float, float]:
    """(CPU ms per fetch, wall s) for fetching every URL, after a warm-up."""
    one, close = make(threads)
    try:
        for url in urls[: max(threads, 1) * 4]:   # warm-up: connections open, pools made
            one(url)
        profiler = cProfile.Profile() if profile else None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        if threads <= 1:
            for url in urls:
                one(url)
        else:
            with ThreadPoolExecutor(threads) as pool:
                for _ in pool.map(one, urls):
                    pass
        if profiler is not None:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return cpu * 1000 / len(urls), wall
    finally:
        close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="fetches per run (default 2000)")
    parser.add_argument("--threads", type=int, default=32, help="threads for the parallel run")
    parser.add_argument("--hosts", type=int, default=16, help="loopback hosts (default 16)")
    parser.add_argument("--status", type=int, default=304, choices=(200, 304))
    parser.add_argument("--body-size", type=int, default=30_000, help="body of a 200")
    parser.add_argument("--only", choices=sorted(CLIENTS), action="append",
                        help="run only this client (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; best is shown")
    parser.add_argument("--profile", action="store_true", help="cProfile one sequential run")
    args = parser.parse_args(argv)

    ready: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, daemon=True,
                                     args=(args.hosts, args.status, args.body_size, ready))
    server.start()
    try:
        addresses = ready.get(timeout=30)
        urls = [f"http://{host}:{port}/feeds/{i}.xml"
                for i in range(args.n) for host, port in [addresses[i % len(addresses)]]]
        print(f"{args.n} fetches answered {args.status} by {len(addresses)} loopback hosts; "
              f"CPU of this process (user+sys), best of {args.repeat}")
        print(f"{'client':<10} {'mode':<12} {'CPU ms/fetch':>13} {'wall s':>8} {'fetch/s':>9}")
        for name in args.only or list(CLIENTS):
            for threads in (1, args.threads):
                if args.profile and threads > 1:
                    continue
                best_cpu, best_wall = float("inf"), float("inf")
                for _ in range(1 if args.profile else args.repeat):
                    cpu, wall = run(CLIENTS[name], urls, threads, args.profile)
                    best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
                mode = "sequential" if threads <= 1 else f"{threads} threads"
                print(f"{name:<10} {mode:<12} {best_cpu:>13.3f} {best_wall:>8.2f} "
                      f"{args.n / best_wall:>9.0f}", flush=True)
    finally:
        server.terminate()
        server.join(5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
