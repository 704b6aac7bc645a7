"""Worker processes (`[monitor] workers`): polls sifted in them give the same results as in
one process; a worker that hangs or dies costs only the source it was sifting."""

from __future__ import annotations

import gc
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

import pytest

from monitor.app import App, build_app, build_classifiers
from monitor.config import Config, load_config_data
from monitor.errors import ParseError
from monitor.parse.jobs import run_parse_job
from monitor.scheduler import poll_sources
from monitor.sift import sift
from monitor.types import ParseJob, Sifted, SiftJob, SourceState
from monitor.workers import (
    YOUNG_COLLECTION_EVERY,
    SiftWorkers,
    sift_in_worker,
    start_worker,
)
from tests.fakes import temp_store
from tests.loopback import LoopbackHTTPServer, Response

NOW = datetime.now(UTC).replace(microsecond=0)
STORIES = [
    "Uzbekistan accepts the credentials of the Taliban's ambassador in Tashkent",
    "Kazakhstan formally recognises the Taliban government",
    "Norway says it will not recognise the Taliban administration for now",
]


def rss(name: str, items: list[tuple[str, str, str]]) -> bytes:
    """items: (guid, title, link)."""
    entries = "".join(
        f"<item><guid>{escape(guid)}</guid><title>{escape(title)}</title>"
        f"<link>{escape(link)}</link>"
        f"<pubDate>{format_datetime(NOW - timedelta(minutes=5), usegmt=True)}</pubDate></item>"
        for guid, title, link in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>'
            f"<link>https://{name}.example/</link>{entries}</channel></rss>").encode()


def feeds() -> dict[str, bytes]:
    """Six feeds: each story on two of them (one story, two outlets), plus other news."""
    bodies = {}
    for n in range(6):
        story = STORIES[n % 3]
        items = [(f"w{n}-{k}", f"Weather report {k} from desk {n}", f"https://w{n}.example/{k}")
                 for k in range(5)]
        items.append((f"w{n}-story", story, f"https://w{n}.example/story"))
        bodies[f"/feed-{n}.rss"] = rss(f"wire{n}", items)
    return bodies


def make_app(tmp_path: Path, server: LoopbackHTTPServer, workers: int, db: str) -> App:
    return build_app(load_config_data({
        "monitor": {"database": str(tmp_path / db), "min_host_interval": "0s",
                    "max_per_host": 8, "workers": workers},
        "topics": [{"name": "t", "event": "recognition"}],
        "sources": [{"name": f"wire {n}", "url": server.url(f"/feed-{n}.rss")}
                    for n in range(6)],
        "notifiers": [{"name": "desk", "type": "file", "path": str(tmp_path / f"{db}.log")}]}))


def digest_titles(path: Path) -> list[str]:
    """The stories a file notifier's digests listed ("1. Title" lines), repeats kept."""
    return re.findall(r"^\d+\. (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)


def stored(database: Path) -> dict[str, object]:
    """What a cycle left in the database, in a form two runs can be compared by."""
    db = sqlite3.connect(database)
    try:
        return {
            "items": sorted(db.execute("SELECT source, guid, canonical_url, alert FROM items")),
            "stories": sorted(db.execute("SELECT topic, category, alert FROM stories")),
            "story sizes": sorted(n for (n,) in db.execute(
                "SELECT COUNT(*) FROM story_items GROUP BY story_id")),
            "outbox": db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0],
        }
    finally:
        db.close()


@pytest.fixture
def farm():
    with LoopbackHTTPServer() as server:
        for path, body in feeds().items():
            server.route(path, Response(body=body, headers={"Content-Type": "application/rss+xml"}))
        yield server


def test_two_workers_store_and_alert_what_one_process_does(tmp_path: Path, farm) -> None:
    results = {}
    for workers in (1, 2):
        app = make_app(tmp_path, farm, workers, f"w{workers}.db")
        try:
            assert (app.workers is None) == (workers == 1)
            first = poll_sources(app, app.config.sources)
            again = poll_sources(app, app.config.sources)
            app.deliverer.flush_all()
        finally:
            app.close()
        assert {o.status for o in first} == {"ok"} and sum(o.matched for o in first) == 6
        assert {o.status for o in again} == {"unchanged"} and sum(o.new for o in again) == 0
        results[workers] = stored(tmp_path / f"w{workers}.db")
        alerted = digest_titles(tmp_path / f"w{workers}.db.log")
        assert sorted(alerted) == sorted(STORIES)    # each story alerted once
    assert results[2] == results[1]
    assert results[2]["story sizes"] == [2, 2, 2] and results[2]["outbox"] == 3


def wire_job(tmp_path: Path) -> tuple[SiftJob, Config]:
    """A job of six new items (one a match) for a source of a new store in ``tmp_path``,
    and a config of one topic on that store."""
    store = temp_store(tmp_path, [("wire", "https://wire.example/rss")])
    store.close()
    job = SiftJob("wire", ParseJob("feed", feeds()["/feed-0.rss"], "https://wire.example/rss",
                                   "application/rss+xml"),
                  SourceState("wire", "https://wire.example/rss"), NOW)
    return job, load_config_data({"monitor": {"database": str(tmp_path / "m.db")},
                                  "topics": [{"name": "t", "event": "recognition"}]})


def test_a_worker_gives_what_sifting_here_gives(tmp_path: Path) -> None:
    job, config = wire_job(tmp_path)
    workers = SiftWorkers(2, 60, str(tmp_path / "m.db"), config.topics, timedelta(hours=48))
    store = temp_store(tmp_path)
    try:
        here = sift(job, run_parse_job, store, build_classifiers(config), timedelta(hours=48))
        assert workers(job) == here
        assert len(here.new_items) == 6 and len(here.decisions) == 1
        with pytest.raises(ParseError, match="not a feed|malformed"):
            workers(SiftJob("wire", ParseJob("feed", b"<html><body>no feed</body></html>",
                                             "https://wire.example/rss"), job.state, NOW))
    finally:
        workers.close()
        store.close()


def gc_threshold(job: SiftJob) -> tuple[int, int, int]:
    """A worker task that answers with the worker's garbage-collection thresholds."""
    return gc.get_threshold()


def test_the_daemon_and_its_workers_collect_young_objects_less_often(tmp_path: Path,
                                                                    farm) -> None:
    """A poll allocates thousands of short-lived objects: with Python's default (the young
    generation collected every 700 allocations) the daemon spent 3% more CPU."""
    job, config = wire_job(tmp_path)
    workers = SiftWorkers(2, 60, str(tmp_path / "m.db"), config.topics, timedelta(hours=48),
                          target=gc_threshold)  # type: ignore[arg-type]
    try:
        assert workers(job) == (YOUNG_COLLECTION_EVERY, 10, 10)   # older generations: kept
    finally:
        workers.close()
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)   # Python's default
    try:
        app = make_app(tmp_path, farm, 1, "daemon.db")
        try:
            assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, 10, 10)
        finally:
            app.close()
        gc.set_threshold(100_000, 10, 10)   # the user's own, higher: kept
        make_app(tmp_path, farm, 1, "daemon.db").close()
        assert gc.get_threshold() == (100_000, 10, 10)
    finally:
        gc.set_threshold(*before)


def die_on_doomed(job: SiftJob) -> Sifted:
    """A worker task that is killed (SIGKILL, as by the OOM killer) on one source's body."""
    if job.source == "wire 3":
        os.kill(os.getpid(), signal.SIGKILL)
    return sift_in_worker(job)


def hang_on_doomed(job: SiftJob) -> Sifted:
    if job.source == "wire 3":
        time.sleep(60)
    return sift_in_worker(job)


@pytest.mark.parametrize("task, error", [(die_on_doomed, "worker process died"),
                                         (hang_on_doomed, "took longer than 2s")])
def test_a_worker_killed_or_hung_costs_only_its_source(tmp_path: Path, farm, task,
                                                       error: str) -> None:
    app = make_app(tmp_path, farm, 2, "m.db")
    assert app.workers is not None
    app.workers.timeout = 2
    try:
        app.workers.target = task
        outcomes = {o.source: o for o in poll_sources(app, app.config.sources)}
        assert outcomes["wire 3"].status == "error" and error in (outcomes["wire 3"].error or "")
        assert all(o.status == "ok" for name, o in outcomes.items() if name != "wire 3")
        state = app.store.source_state("wire 3")
        assert state.consecutive_failures == 1 and error in (state.last_error or "")
        # The pool recovers: the source is polled again (as when its retry comes) and sifted.
        app.workers.target = sift_in_worker
        retry = app.pipeline.poll(app.config.sources[3])
        assert retry.status == "ok" and retry.matched == 1
        assert app.store.source_state("wire 3").consecutive_failures == 0
    finally:
        app.close()


def oserror_on_doomed(job: SiftJob) -> Sifted:
    """A task that fails on one source with an OSError of its own (a file it could not read)."""
    if job.source == "wire 3":
        raise FileNotFoundError(2, "No such file", "/gone/selectors.css")
    return sift_in_worker(job)


def test_a_task_failing_with_an_oserror_is_its_source_s_failure_not_a_dead_worker(
        tmp_path: Path, farm) -> None:
    app = make_app(tmp_path, farm, 2, "m.db")
    assert app.workers is not None
    try:
        app.workers.target = oserror_on_doomed
        outcomes = {o.source: o for o in poll_sources(app, app.config.sources)}
        error = outcomes["wire 3"].error or ""
        assert outcomes["wire 3"].status == "error" and "/gone/selectors.css" in error
        assert "died" not in error
        assert all(o.status == "ok" for name, o in outcomes.items() if name != "wire 3")
    finally:
        app.close()


def die_when_idle(job: SiftJob) -> Sifted:
    """Sift, then die a moment later, idle (as when killed between two jobs)."""
    sifted = sift_in_worker(job)
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGKILL)).start()
    return sifted


def test_a_worker_that_dies_idle_is_replaced(tmp_path: Path, farm) -> None:
    app = make_app(tmp_path, farm, 2, "m.db")
    assert app.workers is not None
    try:
        app.workers.target = die_when_idle
        assert app.pipeline.poll(app.config.sources[0]).status == "ok"
        time.sleep(1.0)   # the worker has died, with no job running
        app.workers.target = sift_in_worker
        outcomes = poll_sources(app, app.config.sources[1:])
        assert [o.status for o in outcomes] == ["ok"] * 5
    finally:
        app.close()


def test_monitor_once_sifts_in_worker_processes(tmp_path: Path, farm) -> None:
    config = tmp_path / "monitor.toml"
    sources = "".join(f'[[sources]]\nname = "wire {n}"\nurl = "{farm.url(f"/feed-{n}.rss")}"\n'
                      for n in range(6))
    config.write_text(f'[monitor]\ndatabase = "{tmp_path / "m.db"}"\nworkers = 2\n'
                      f'min_host_interval = "0s"\n\n[[topics]]\nname = "t"\n'
                      f'event = "recognition"\n\n{sources}\n[[notifiers]]\nname = "desk"\n'
                      f'type = "file"\npath = "{tmp_path / "digests.log"}"\n')
    once = subprocess.run([sys.executable, "-m", "monitor", "once", "-c", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert once.returncode == 0, once.stderr
    assert "sifting fetched bodies in 2 worker processes" in once.stderr
    assert "6 matched" in once.stdout
    assert sorted(digest_titles(tmp_path / "digests.log")) == sorted(STORIES)


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (children, their children ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat[0] != "Z":
                parents[int(entry)] = int(stat[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def worker_processes(pid: int, seconds: float) -> set[int]:
    """The processes below ``pid`` once there are two (the fork server and a worker), or
    those there are after ``seconds``."""
    deadline = time.monotonic() + seconds
    children: set[int] = set()
    while len(children) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        children = descendants(pid)
    return children


def still_running(pids: set[int], seconds: float) -> list[int]:
    """Those of ``pids`` still running after up to ``seconds`` (none: at once)."""
    deadline = time.monotonic() + seconds
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [pid for pid in pids if running(pid)]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_workers_end_with_a_killed_daemon(tmp_path: Path, farm) -> None:
    config = tmp_path / "monitor.toml"
    sources = "".join(f'[[sources]]\nname = "wire {n}"\nurl = "{farm.url(f"/feed-{n}.rss")}"\n'
                      f'interval = "1s"\n' for n in range(6))
    config.write_text(f'[monitor]\ndatabase = "{tmp_path / "m.db"}"\nworkers = 2\n'
                      f'min_host_interval = "0s"\n\n[[topics]]\nname = "t"\n'
                      f'event = "recognition"\n\n{sources}\n[[notifiers]]\nname = "desk"\n'
                      f'type = "file"\npath = "{tmp_path / "digests.log"}"\n')
    daemon = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(grandchildren(daemon.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)      # the workers, forked by the fork server (a child, as is
        children = descendants(daemon.pid)   # multiprocessing's resource tracker)
        assert len(grandchildren(daemon.pid)) >= 2, "the daemon did not start its workers"
        daemon.kill()
        daemon.wait(10)
        assert not still_running(children, 30), "workers outlived the daemon"
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)


# A script that starts worker processes on the database its argument names, as a daemon
# would: `pool(count, timeout)` (the scripts below run it in a process of their own).
WORKERS_SCRIPT = """
import sys, time
from datetime import UTC, datetime, timedelta
from monitor.config import load_config_data
from monitor.store import open_store
from monitor.types import ParseJob, SiftJob, SourceState
from monitor.workers import SiftWorkers


def pool(count, timeout):
    database = sys.argv[1]
    open_store(database).close()
    config = load_config_data({"monitor": {"database": database},
                               "topics": [{"name": "t", "event": "recognition"}]})
    return SiftWorkers(count, timeout, database, config.topics, timedelta(hours=48))


def job(body):
    return SiftJob("w", ParseJob("feed", body, "https://w.example/rss", "application/rss+xml"),
                   SourceState("w", "https://w.example/rss"), datetime.now(UTC))
"""

EXIT_WITHOUT_CLOSE = WORKERS_SCRIPT + """
BODY = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>w</title>'
        b'<item><guid>1</guid><title>Weather</title><link>https://w.example/1</link></item>'
        b'</channel></rss>')

if __name__ == "__main__":
    workers = pool(2, 60)
    print(len(workers(job(BODY)).new_items))   # and exit, the workers never closed
"""


def test_a_process_that_never_closes_its_workers_still_exits(tmp_path: Path) -> None:
    """Workers ignore SIGTERM (the daemon's, sent to the whole group by systemd, is the
    daemon's to act on); at exit the pool is closed first, or multiprocessing's own exit
    would wait forever for workers it asked to terminate."""
    script = tmp_path / "exit_without_close.py"
    script.write_text(EXIT_WITHOUT_CLOSE, encoding="utf-8")
    try:
        ran = subprocess.run([sys.executable, str(script), str(tmp_path / "m.db")],
                             capture_output=True, text=True, timeout=60,
                             cwd=Path(__file__).resolve().parents[1])
    except subprocess.TimeoutExpired:
        pytest.fail("the process hung at exit with its workers still running")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "1"


STUCK_IN_A_JOB = WORKERS_SCRIPT + """

def endless(job):
    while True:        # a job that never ends (a parser's runaway loop)
        time.sleep(1)


if __name__ == "__main__":
    workers = pool(1, 3600)
    workers.target = endless
    print("sifting", flush=True)
    workers(job(b"<rss/>"))
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_a_worker_stuck_in_a_job_ends_with_a_killed_daemon(tmp_path: Path) -> None:
    """A worker notices its daemon's death when it next reads its pipe: one stuck in a job
    (its deadline was the daemon's to enforce) would run on alone, and keep its fork server
    alive. Its lifeline pipe ends it (and then the fork server) with the daemon."""
    script = tmp_path / "stuck_in_a_job.py"
    script.write_text(STUCK_IN_A_JOB, encoding="utf-8")
    daemon = subprocess.Popen([sys.executable, str(script), str(tmp_path / "m.db")],
                              stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        assert daemon.stdout is not None and daemon.stdout.readline() == "sifting\n"
        children = worker_processes(daemon.pid, 30)
        assert len(children) >= 2, "no worker process started"
        time.sleep(1.0)                                  # the worker is in its job
        daemon.kill()
        daemon.wait(10)
        left = still_running(children, 10)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, "a worker stuck in a job outlived the daemon"
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)


def slow_start(*initargs: object) -> None:
    """A worker's start-up on a loaded machine: opening the store and building the
    classifiers take 2 s."""
    time.sleep(2)
    start_worker(*initargs)  # type: ignore[arg-type]


def test_a_worker_s_start_up_does_not_count_against_its_first_job(tmp_path: Path) -> None:
    job, config = wire_job(tmp_path)
    workers = SiftWorkers(1, 1, str(tmp_path / "m.db"), config.topics, timedelta(hours=48),
                          starter=slow_start)
    try:
        assert len(workers(job).new_items) == 6       # 1 s for the job, not for the start
    finally:
        workers.close()


def fail_to_start(*initargs: object) -> None:
    raise OSError("database is on a disk that went away")


def test_a_worker_that_cannot_start_fails_the_job_as_a_parse_error(tmp_path: Path) -> None:
    config = load_config_data({"monitor": {"database": str(tmp_path / "m.db")},
                               "topics": [{"name": "t", "event": "recognition"}]})
    workers = SiftWorkers(1, 10, str(tmp_path / "m.db"), config.topics, timedelta(hours=48),
                          starter=fail_to_start)
    job = SiftJob("wire", ParseJob("feed", b"<rss/>", "https://wire.example/rss"),
                  SourceState("wire", "https://wire.example/rss"), NOW)
    try:
        with pytest.raises(ParseError, match="a worker process could not start"):
            workers(job)
    finally:
        workers.close()


def test_a_worker_that_died_just_before_its_job_is_replaced_and_the_job_done(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker dies idle in the instant between the check that it lives and the send
    of a job (here the check is made to miss it): the job goes to a new worker, and the
    source does not pay for a death its body did not cause."""
    from monitor import workers as module

    job, config = wire_job(tmp_path)
    workers = SiftWorkers(1, 30, str(tmp_path / "m.db"), config.topics, timedelta(hours=48))
    try:
        assert len(workers(job).new_items) == 6
        (first,) = workers._all
        first.process.kill()
        first.process.join(10)
        monkeypatch.setattr(module._Process, "alive", lambda self: True)
        assert len(workers(job).new_items) == 6
        assert first not in workers._all and len(workers._all) == 1
    finally:
        workers.close()


def sift_slowly(job: SiftJob) -> Sifted:
    """A task that takes a minute (a huge body)."""
    time.sleep(60)
    return sift_in_worker(job)


def test_closing_the_pool_leaves_a_busy_worker_s_pipe_to_the_thread_reading_it(
        tmp_path: Path) -> None:
    """Closed while a job runs, the pool ends the busy worker at once, but its pipe is
    closed by the job's own thread, once it has read the end: closed under that thread,
    its descriptor could be taken by a file or socket opened meanwhile, and read as the
    worker's answer."""
    job, config = wire_job(tmp_path)
    workers = SiftWorkers(1, 60, str(tmp_path / "m.db"), config.topics, timedelta(hours=48))
    workers.target = sift_slowly
    failed: list[BaseException] = []

    def run() -> None:
        try:
            workers(job)
        except BaseException as exc:  # noqa: BLE001 - what the job's thread got
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not workers._all and time.monotonic() < deadline:   # started, and sent the job
        time.sleep(0.05)
    (worker,) = workers._all
    closed_by: list[threading.Thread] = []
    close_pipe = worker.conn.close

    def recorded_close() -> None:
        closed_by.append(threading.current_thread())
        close_pipe()

    worker.conn.close = recorded_close  # type: ignore[method-assign]
    time.sleep(0.5)
    workers.close()
    assert not worker.process.is_alive()
    thread.join(30)
    assert not thread.is_alive()      # the job's thread was not left to its minute
    assert [type(exc) for exc in failed] == [ParseError]
    assert "died" in str(failed[0]) and worker.conn.closed
    assert closed_by == [thread]      # by the thread that read it, once


def wait_until(condition, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(condition())


def test_started_workers_take_the_first_jobs_without_starting_another(tmp_path: Path) -> None:
    """`start` starts the workers before any body comes (build_app calls it): the first
    jobs go to them, and none starts then."""
    job, config = wire_job(tmp_path)
    workers = SiftWorkers(2, 60, str(tmp_path / "m.db"), config.topics, timedelta(hours=48))
    try:
        workers.start()
        workers.start()   # a second call starts no more than `count`
        assert wait_until(lambda: len(workers._idle) == 2)
        started = set(workers._all)
        assert len(started) == 2 and all(w.alive() for w in started)
        assert len(workers(job).new_items) == 6
        assert len(workers(job).new_items) == 6
        assert workers._all == started
    finally:
        workers.close()
    assert not any(w.alive() for w in started)


def test_a_worker_that_cannot_start_in_the_background_leaves_its_start_to_the_job(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    job, config = wire_job(tmp_path)
    workers = SiftWorkers(1, 10, str(tmp_path / "m.db"), config.topics, timedelta(hours=48),
                          starter=fail_to_start)
    try:
        workers.start()
        assert wait_until(lambda: "could not start" in caplog.text)
        assert wait_until(lambda: workers._starting == 0)
        with pytest.raises(ParseError, match="a worker process could not start"):
            workers(job)   # the job tries a start of its own, and says why it failed
    finally:
        workers.close()


def endless_start(*initargs: object) -> None:
    """A worker's start-up that never ends (a store on a disk that does not answer)."""
    time.sleep(600)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_closing_the_pool_while_its_workers_start_leaves_none_running(tmp_path: Path) -> None:
    """Closed while `start` still waits for its workers (here their start-up never ends),
    the pool kills them, and their threads end: none outlives `close`, which does not
    wait for their start."""
    job, config = wire_job(tmp_path)
    workers = SiftWorkers(2, 60, str(tmp_path / "m.db"), config.topics, timedelta(hours=48),
                          starter=endless_start)
    me = os.getpid()
    before = grandchildren(me)
    workers.start()
    assert wait_until(lambda: len(grandchildren(me) - before) >= 2, 30)   # forked, starting
    forked = grandchildren(me) - before
    workers.close()
    assert still_running(forked, 0) == []
    assert not any(thread.is_alive() for thread in workers._starters)
    assert workers._launching == set() and workers._starting == 0


def grandchildren(pid: int) -> set[int]:
    """The processes two levels below ``pid``: the workers, forked by the fork server."""
    return descendants(pid) - {child for child in descendants(pid)
                               if _parent(child) == pid}


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def test_the_app_starts_its_workers_as_it_is_built(tmp_path: Path, farm) -> None:
    app = make_app(tmp_path, farm, 2, "m.db")
    try:
        assert app.workers is not None
        assert wait_until(lambda: len(app.workers._idle) == 2)   # no body sent yet
    finally:
        app.close()
