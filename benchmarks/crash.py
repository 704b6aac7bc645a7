"""Crash-safety proof: the real daemon against a feed farm, an SMTP sink and a webhook, faulted.

    python benchmarks/crash.py [--kills 50] [--seed 7] [--only kills,smtp-down,...] [--keep DIR]

Run it from the repository root (as root for the disk-full scenario: it mounts a tiny tmpfs).
Each scenario starts `monitor run` as a child process, publishes new recognition stories on
loopback RSS feeds, injects its fault, then lets the daemon run until nothing is left to send
and stops it with SIGTERM. It prints one row per scenario: stories expected, delivered,
repeated (extra copies; "out" counts those under another delivery id than the first copy,
i.e. outside the documented window) and lost, for the email and the webhook notifier.

Scenarios: kills (SIGKILL at random moments: during a fetch, just after a feed answer carrying
a new item (the store transaction), during an SMTP/webhook send, just after a receiver accepted
a message, or at a random delay), sigterm (SIGTERM while a send is in flight), smtp-down (the
SMTP server is down for a whole run, then up), webhook-500 (500s for 20 s, then 200s),
webhook-429 (429 with Retry-After: 40), disk-full (the database on a full 2 MB tmpfs).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.farm import (  # noqa: E402
    STATES,
    WORDINGS,
    DaemonProcess,
    FeedFarm,
    SmtpSink,
    Tally,
    WebhookSink,
    all_received,
    delivery_counts,
    integrity,
    settled,
    story_titles,
    tally,
    wait_until,
    write_config,
)

KILL_MODES = ("fetch", "store", "delivery", "accepted", "random")
TRIGGER_TIMEOUT = 10.0      # seconds to wait for a kill's moment before killing anyway
DISK_FULL = "database or disk is full"


@dataclass
class Outcome:
    """One scenario's result."""

    fault: str
    expected: int
    email: Tally
    webhook: Tally
    kills: int = 0
    integrity_failures: list[str] = field(default_factory=list)
    sigterm_seconds: float | None = None
    sigterm_status: int | None = None
    settled: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    hangs: int = 0                   # SIGTERMs the daemon ignored (killed after 15 s)

    @property
    def lost(self) -> int:
        return self.email.lost + self.webhook.lost

    @property
    def outside_window(self) -> int:
        return self.email.outside_window + self.webhook.outside_window

    @property
    def ok(self) -> bool:
        return (self.lost == 0 and self.outside_window == 0 and not self.integrity_failures
                and self.hangs == 0
                and self.settled and self.sigterm_status == 0
                and self.email.unexpected == 0 and self.webhook.unexpected == 0)


class World:
    """Feed farm + SMTP sink + webhook + config + daemon for one scenario."""

    def __init__(self, workdir: Path, seed: int, *, feeds: int = 3,
                 database_dir: Path | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.titles = story_titles(len(STATES) * len(WORDINGS))
        self.rng.shuffle(self.titles)
        self.expected: list[str] = []
        self.farm = FeedFarm(feeds)
        self.smtp = SmtpSink(seed + 1)
        self.hook = WebhookSink(seed + 2)
        self.database = (database_dir or workdir) / "monitor.db"
        self.config = workdir / "monitor.toml"
        self.daemon = DaemonProcess(self.config, workdir / "daemon.log")
        self.kills = 0
        self.integrity_failures: list[str] = []
        self.notes: list[str] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> World:
        self._stack.enter_context(self.farm)
        self._stack.enter_context(self.smtp)
        self._stack.enter_context(self.hook)
        write_config(self.config, database=self.database, feeds=self.farm.urls(),
                     smtp_port=self.smtp.port, hook_url=self.hook.url)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.daemon.running:
            self.daemon.kill()
        self._stack.close()

    # -- actions ----------------------------------------------------------

    def publish(self, count: int = 1) -> list[str]:
        """Publish the next ``count`` stories, each on one feed or (30%) on two."""
        published = []
        for _ in range(count):
            title = self.titles[len(self.expected)]
            feeds = self.rng.sample(range(self.farm.count), 2 if self.rng.random() < 0.3 else 1)
            self.farm.publish(title, feeds)
            self.expected.append(title)
            published.append(title)
        return published

    def received(self) -> int:
        return len(self.smtp.snapshot()) + len(self.hook.snapshot())

    def kill(self) -> None:
        """SIGKILL the daemon and check the database is still sound."""
        status = self.daemon.kill()
        self.kills += 1
        if status != -9:
            self.notes.append(f"kill {self.kills}: daemon had already exited ({status})")
        verdict = integrity(self.database) if self.database.exists() else "ok"
        if verdict != "ok":
            self.integrity_failures.append(f"after kill {self.kills}: {verdict}")

    def kill_at(self, mode: str) -> bool:
        """Kill at the moment ``mode`` names; False when that moment did not come in time."""
        rng = self.rng
        hit = True
        if mode == "fetch":
            self.farm.fetch_delay = rng.uniform(0.2, 1.0)
            hit = wait_until(lambda: self.farm.in_flight > 0, TRIGGER_TIMEOUT)
            time.sleep(rng.uniform(0, self.farm.fetch_delay))
        elif mode == "store":
            base = self.farm.fresh_responses
            hit = wait_until(lambda: self.farm.fresh_responses > base, TRIGGER_TIMEOUT,
                             interval=0.002)
            time.sleep(rng.uniform(0, 0.03))
        elif mode == "delivery":
            hit = wait_until(lambda: self.smtp.in_flight + self.hook.in_flight > 0,
                             TRIGGER_TIMEOUT, interval=0.01)
            time.sleep(rng.uniform(0, 0.3))
        elif mode == "accepted":
            base = self.received()
            hit = wait_until(lambda: self.received() > base, TRIGGER_TIMEOUT, interval=0.001)
            time.sleep(rng.uniform(0, 0.005))
        else:
            time.sleep(rng.uniform(0, 3.0))
        self.kill()
        self.farm.fetch_delay = 0.0
        return hit

    def log_count(self, needle: str) -> int:
        return self.daemon.log_text().count(needle)

    def finish(self, fault: str, timeout: float) -> Outcome:
        """Run until every story reached both receivers and nothing is left to send; SIGTERM."""
        if not self.daemon.running:
            started = self.log_count("daemon started")
            self.daemon.start()
            # A SIGTERM before the daemon installed its handler would kill it outright.
            wait_until(lambda: self.log_count("daemon started") > started, 30, interval=0.05)
        done = wait_until(lambda: all_received(self.expected, self.smtp, self.hook)
                          and settled(self.database), timeout, interval=0.1)
        counts = delivery_counts(self.database)
        try:
            status, seconds = self.daemon.terminate()
        except TimeoutError as exc:
            status, seconds = -1, float("inf")
            self.notes.append(str(exc))
        verdict = integrity(self.database)
        if verdict != "ok":
            self.integrity_failures.append(f"at the end: {verdict}")
        tracebacks = self.log_count("Traceback")
        if tracebacks:
            self.notes.append(f"{tracebacks} tracebacks in {self.daemon.log_path}")
        if not done:
            self.notes.append(f"not settled within {timeout:g}s: {counts}")
        return Outcome(fault, len(self.expected), tally(self.expected, self.smtp.snapshot()),
                       tally(self.expected, self.hook.snapshot()), self.kills,
                       self.integrity_failures, seconds, status, done, counts, self.notes)


# -- scenarios ------------------------------------------------------------------


def run_kills(workdir: Path, kills: int, seed: int = 7, *,
              finish_timeout: float = 120.0) -> Outcome:
    """SIGKILL the daemon ``kills`` times at chosen moments, restarting it each time."""
    with World(workdir, seed) as world:
        world.smtp.slow.low, world.smtp.slow.high = 0.05, 0.8
        world.hook.slow.low, world.hook.slow.high = 0.05, 0.8
        missed: dict[str, int] = {}
        modes: dict[str, int] = {}
        for index in range(kills):
            mode = KILL_MODES[index % len(KILL_MODES)] if index < len(KILL_MODES) \
                else world.rng.choice(KILL_MODES)
            modes[mode] = modes.get(mode, 0) + 1
            world.publish(world.rng.choice((1, 2)))
            world.daemon.start()
            if not world.kill_at(mode):
                missed[mode] = missed.get(mode, 0) + 1
        outcome = world.finish(f"SIGKILL x{kills}", finish_timeout)
        outcome.notes.insert(0, "kills by moment: " + ", ".join(
            f"{m} {n}" + (f" ({missed[m]} missed)" if m in missed else "")
            for m, n in sorted(modes.items())))
        return outcome


def run_sigterm(workdir: Path, stops: int = 5, seed: int = 11, *,
                finish_timeout: float = 120.0) -> Outcome:
    """SIGTERM while an SMTP send is in flight (slow server), restart, repeat."""
    with World(workdir, seed) as world:
        world.smtp.slow.low, world.smtp.slow.high = 1.0, 2.0
        slowest = 0.0
        hangs = 0
        for _ in range(stops):
            world.publish(1)
            world.daemon.start()
            wait_until(lambda: world.smtp.in_flight > 0, TRIGGER_TIMEOUT, interval=0.01)
            try:
                status, seconds = world.daemon.terminate()
            except TimeoutError as exc:
                world.notes.append(str(exc))
                hangs += 1
                continue
            slowest = max(slowest, seconds)
            if status != 0:
                world.notes.append(f"SIGTERM exit status {status}")
        world.smtp.slow.low = world.smtp.slow.high = 0.0
        outcome = world.finish(f"SIGTERM during SMTP send x{stops}", finish_timeout)
        outcome.hangs = hangs
        outcome.notes.insert(0, f"slowest exit after SIGTERM {slowest:.1f}s; "
                                f"SIGTERM ignored {hangs} time(s)")
        return outcome


def run_smtp_down(workdir: Path, seed: int = 13, *, finish_timeout: float = 150.0) -> Outcome:
    """The SMTP server is down for a whole daemon run; the webhook must not wait for it."""
    with World(workdir, seed) as world:
        world.smtp.stop()
        world.daemon.start()
        for _ in range(3):
            world.publish(1)
            wait_until(lambda: all_received(world.expected, world.hook), 20.0)
        hook_ok = all_received(world.expected, world.hook)
        failed = wait_until(lambda: delivery_counts(world.database).get("failed", 0) > 0, 20.0)
        world.daemon.terminate()
        world.smtp.start()
        outcome = world.finish("SMTP down for a run, then up", finish_timeout)
        outcome.notes.insert(0, f"webhook got every story while SMTP was down: {hook_ok}; "
                                f"email attempts recorded as failed: {failed}")
        return outcome


def run_webhook_500(workdir: Path, seed: int = 17, *, finish_timeout: float = 180.0) -> Outcome:
    with World(workdir, seed) as world:
        world.hook.fail(500, seconds=20.0)
        world.daemon.start()
        for _ in range(3):
            world.publish(1)
            wait_until(lambda: all_received(world.expected, world.smtp), 20.0)
        outcome = world.finish("webhook 500 for 20 s, then 200", finish_timeout)
        outcome.notes.insert(0, f"{len(world.hook.refused)} answers 500; email got every "
                                f"story meanwhile: {all_received(world.expected, world.smtp)}")
        return outcome


def run_webhook_429(workdir: Path, seed: int = 19, *, retry_after: int = 40,
                    finish_timeout: float = 180.0) -> Outcome:
    with World(workdir, seed) as world:
        world.hook.fail(429, count=1, retry_after=retry_after)
        world.daemon.start()
        world.publish(2)
        outcome = world.finish(f"webhook 429, Retry-After: {retry_after}", finish_timeout)
        gaps = []
        for refusal in world.hook.refused:
            later = [m.at for m in world.hook.snapshot() if m.delivery_id == refusal.delivery_id]
            if later:
                gaps.append(min(later) - refusal.at)
        shortest = min(gaps) if gaps else None
        honoured = shortest is not None and shortest >= retry_after
        outcome.notes.insert(0, f"{len(world.hook.refused)} answers 429; resent after "
                                f"{shortest or 0:.0f}s (Retry-After honoured: {honoured})")
        if not honoured:
            outcome.notes.append("Retry-After NOT honoured")
        return outcome


def _fill(directory: Path) -> Path:
    """Fill the filesystem holding ``directory`` with one file; returns that file."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    with contextlib.suppress(OSError), open(filler, "ab") as out:  # the last partial chunk
        while True:
            out.write(b"\0" * 512)
            out.flush()
    return filler


@contextlib.contextmanager
def tmpfs(mount_point: Path, size: str) -> Iterator[str | None]:
    """Mount a tmpfs of ``size``; yields None when mounted, else why it could not be."""
    mount_point.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                             str(mount_point)], capture_output=True, text=True)
    if result.returncode != 0:
        yield (result.stderr or result.stdout).strip() or f"mount exit {result.returncode}"
        return
    try:
        yield None
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def run_disk_full(workdir: Path, seed: int = 23, *, finish_timeout: float = 120.0) -> Outcome:
    """The database's filesystem fills up while stories arrive; a kill while full; space back."""
    mount_point = workdir / "small-fs"
    with tmpfs(mount_point, "2m") as failure:
        if failure is not None:
            empty = tally([], [])
            return Outcome("disk full on the database", 0, empty, empty,
                           notes=[f"skipped: cannot mount a tmpfs: {failure}"], settled=True,
                           sigterm_status=0)
        with World(workdir, seed, database_dir=mount_point) as world:
            world.daemon.start()
            world.publish(2)
            wait_until(lambda: all_received(world.expected, world.smtp, world.hook), 30.0)

            def errors() -> int:
                return world.log_count(DISK_FULL)

            # A: the disk fills under a running daemon, then space comes back.
            before = errors()
            filler = _fill(mount_point)
            world.publish(2)
            full_a = wait_until(lambda: errors() > before, 30.0, interval=0.1)
            filler.unlink()
            recovered = wait_until(
                lambda: all_received(world.expected, world.smtp, world.hook), 30.0)
            # B: full again; a crash while full; a restart while still full; space back.
            filler = _fill(mount_point)
            world.publish(2)
            before = errors()
            full_b = wait_until(lambda: errors() > before, 30.0, interval=0.1)
            world.kill()
            before = errors()
            world.daemon.start()
            wait_until(lambda: not world.daemon.running or errors() > before, 20.0,
                       interval=0.1)
            alive = world.daemon.running
            filler.unlink()
            if not alive:
                world.notes.append("the daemon exited when started on a full disk")
            outcome = world.finish("disk full on the database (2 MB tmpfs)", finish_timeout)
            outcome.notes.insert(0, f"disk-full errors logged: {errors()}; phase A full: "
                                    f"{full_a}, same process delivered after space came back: "
                                    f"{recovered}; phase B full: {full_b}, kill while full, "
                                    f"restart while full: {'ran' if alive else 'exited'}")
            return outcome


SCENARIOS: dict[str, Callable[[Path, argparse.Namespace], Outcome]] = {
    "kills": lambda d, a: run_kills(d, a.kills, a.seed),
    "sigterm": lambda d, a: run_sigterm(d, seed=a.seed + 4),
    "smtp-down": lambda d, a: run_smtp_down(d, a.seed + 6),
    "webhook-500": lambda d, a: run_webhook_500(d, a.seed + 10),
    "webhook-429": lambda d, a: run_webhook_429(d, a.seed + 12),
    "disk-full": lambda d, a: run_disk_full(d, a.seed + 16),
}


def format_table(outcomes: list[Outcome]) -> str:
    """A Markdown table: one row per fault, email/webhook pairs in each cell."""
    lines = ["| fault | stories expected | delivered (email/webhook) | repeated (out of window)"
             " | lost | db integrity | SIGTERM exit |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for o in outcomes:
        lines.append(
            f"| {o.fault} | {o.expected} | {o.email.delivered}/{o.webhook.delivered} | "
            f"{o.email.repeated}/{o.webhook.repeated} ({o.outside_window}) | "
            f"{o.email.lost}/{o.webhook.lost} | "
            f"{'ok' if not o.integrity_failures else 'FAILED'} | "
            + (f"{o.sigterm_seconds:.1f}s (status {o.sigterm_status})"
               if o.sigterm_seconds is not None else "-") + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated scenarios among {', '.join(SCENARIOS)}")
    parser.add_argument("--keep", type=Path, help="keep databases and daemon logs here")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="monitor-crash-"))
    outcomes = []
    try:
        for name in chosen:
            started = time.monotonic()
            outcome = SCENARIOS[name](root / name, args)
            outcomes.append(outcome)
            print(f"{name}: {time.monotonic() - started:.0f}s, "
                  f"{'ok' if outcome.ok else 'NOT OK'}; " + "; ".join(outcome.notes),
                  file=sys.stderr, flush=True)
            for failure in outcome.integrity_failures:
                print(f"  integrity: {failure}", file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(format_table(outcomes))
    for outcome in outcomes:
        if outcome.notes:
            print(f"\n{outcome.fault}: " + "; ".join(outcome.notes))
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
