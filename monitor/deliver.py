"""Outbox -> digest -> notifier, each notifier isolated; delivered once, retried until then.

The life of a delivery: pending -> sending -> delivered, or -> failed (retried later with
backoff) -> ... -> dead (kept, reported by `monitor status` and `monitor deliveries`).
The digest's payload and id are frozen when it is made, so a retry resends the same
message under the same id (email Message-ID, webhook X-Monitor-Delivery).

Each attempt is leased to the node making it (several nodes may share a database: one
sends a digest), until the node's heartbeat stops renewing the lease for ``lease_timeout``.

Two ways a digest can be repeated, both under the same id, so a receiver that keeps ids can
drop the repeat: the receiver took it but answered after the notifier's timeout (a failed
attempt, so it is retried); or it accepted it, and the process died before `mark_delivered`
was committed (a few milliseconds), and the next run resends it, or with several nodes,
another node once the dead node's lease lapsed (``lease_timeout`` later).
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Literal

from monitor.cluster import DEFAULT_LEASE_TIMEOUT, Lease, lease_holds, lease_until
from monitor.config import NotifierConfig
from monitor.decide import exponential_delay
from monitor.errors import NotifyError, StoreError
from monitor.headers import bounded_delay
from monitor.notify import Notifier
from monitor.outbox import Outbox
from monitor.ports import NoObserver, Observer, SafeObserver
from monitor.store.base import Store
from monitor.types import Digest, FlushOutcome

log = logging.getLogger("monitor.deliver")

RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)
RETRY_AFTER_MAX = timedelta(hours=6)   # the longest a receiver's Retry-After is honoured


def next_attempt(attempts: int, created_at: datetime, now: datetime, config: NotifierConfig,
                 error: NotifyError, jitter: float) -> datetime | None:
    """PURE: when to try a failed delivery again, or None to dead-letter it.

    30 s, 1 min, 2 min ... up to RETRY_MAX, with jitter; never sooner than the receiver's
    Retry-After, honoured up to RETRY_AFTER_MAX (clamped before any arithmetic).
    """
    if error.permanent or attempts >= config.max_attempts:
        return None
    delay = exponential_delay(attempts, RETRY_BASE, RETRY_MAX, jitter)
    if error.retry_after is not None:
        delay = max(delay, bounded_delay(error.retry_after, RETRY_AFTER_MAX))
    if now + delay - created_at > config.give_up_after:
        return None
    return now + delay


class Deliverer:
    """Sends due digests; one notifier's failure never blocks another's."""

    def __init__(self, store: Store, notifiers: Mapping[str, Notifier],
                 configs: Mapping[str, NotifierConfig], clock: Callable[[], datetime],
                 rng: random.Random | None = None,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex, *,
                 observer: Observer | None = None, owner: str = "local",
                 lease_timeout: timedelta = DEFAULT_LEASE_TIMEOUT) -> None:
        self.store = store
        # The metrics: each attempt's result; guarded, as a watcher's bug must not turn a
        # delivered digest into an error nor stop the notifier's other deliveries.
        self.observer = SafeObserver.around(observer or NoObserver())
        self.outbox = Outbox(store)
        self.notifiers = notifiers
        self.configs = configs
        self.clock = clock
        self.rng = rng or random.Random()
        self.new_id = new_id
        self.owner = owner                  # the node whose leases its attempts take
        self.lease_timeout = lease_timeout
        self._sending: set[str] = set()     # digests being sent now: their leases renewed
        self._sending_lock = threading.Lock()
        self._locks = {name: threading.Lock() for name in notifiers}
        # Digests this process saw accepted but could not yet record (database full, locked):
        # never sent again by this process; recorded as soon as the database lets us.
        self._unrecorded: set[str] = set()

    def flush(self, name: str, *, make_digest: bool = True) -> FlushOutcome:
        """Freeze the notifier's pending stories into a digest (if any and asked), then
        attempt every due delivery of that notifier, oldest first."""
        with self._locks[name]:
            if make_digest:
                self.outbox.claim(name, self.clock(), self.new_id())
            sent = failed = dead = 0
            errors: list[str] = []
            for digest in self.outbox.due(name, self.clock()):
                if digest.id in self._unrecorded:  # sent; only the record is missing
                    self._record_delivered(digest)
                    continue
                result = self._attempt(digest)
                if result is False:      # another node took it meanwhile
                    continue
                if result is None:
                    sent += 1
                    continue
                errors.append(result[1])
                if result[0]:
                    dead += 1
                else:
                    failed += 1
            return FlushOutcome(name, sent, failed, dead, tuple(errors))

    def flush_all(self, names: Iterable[str] | None = None, *,
                  make_digest: bool = True) -> list[FlushOutcome]:
        """Flush several notifiers at once, each in its own thread."""
        chosen = list(names if names is not None else self.notifiers)
        if not chosen:
            return []
        with ThreadPoolExecutor(max_workers=len(chosen),
                                thread_name_prefix="deliver") as pool:
            futures = [pool.submit(self.flush, n, make_digest=make_digest) for n in chosen]
            outcomes = []
            for name, future in zip(chosen, futures, strict=True):
                try:
                    outcomes.append(future.result())
                except Exception as exc:  # the store failed (disk full...): report, go on
                    log.error("notifier %r: flush failed: %s", name, exc)
                    outcomes.append(FlushOutcome(name, errors=(f"{type(exc).__name__}: "
                                                               f"{exc}",)))
            return outcomes

    def _record_delivered(self, digest: Digest) -> None:
        try:
            self.outbox.mark_delivered(digest.id, self.clock())
        except StoreError as exc:
            self._unrecorded.add(digest.id)
            log.error("delivery id=%s notifier=%r was accepted but cannot be recorded yet: %s",
                      digest.id, digest.notifier, exc)
        else:
            self._unrecorded.discard(digest.id)

    def sending(self) -> frozenset[str]:
        """The digests being sent now (the node's heartbeat renews their leases)."""
        with self._sending_lock:
            return frozenset(self._sending)

    def _attempt(self, digest: Digest) -> tuple[bool, str] | None | Literal[False]:
        """Send one digest; None on success, else (dead, error message); False when another
        node holds it (or made the attempt that was due) and nothing was sent."""
        now = self.clock()
        lease = Lease(self.owner, now, lease_until(now, self.lease_timeout))
        attempts = self.outbox.take(digest.id, lease)
        if attempts is None:
            return False
        if not lease_holds(lease.until, self.clock(), self.lease_timeout):
            # Answered too late: another node may have taken the lapsed lease and be
            # sending it; the delivery stays due, for whichever node takes it next.
            log.warning("delivery id=%s notifier=%r: claimed too late for its lease "
                        "(lease_timeout %s), not sent now", digest.id, digest.notifier,
                        self.lease_timeout)
            return False
        with self._sending_lock:
            self._sending.add(digest.id)
        try:
            return self._send(digest, attempts)
        finally:
            with self._sending_lock:
                self._sending.discard(digest.id)

    def _send(self, digest: Digest, attempts: int) -> tuple[bool, str] | None:
        """Once the attempt is recorded (`sending`), it ends delivered, failed (with its
        error and a time to retry) or dead, whatever the notifier raises; it stays
        `sending` only if the database itself cannot record the outcome (StoreError)."""
        try:
            self.notifiers[digest.notifier].send(digest)
        except NotifyError as exc:
            error = exc
        except Exception as exc:  # a notifier bug must not stop the others: record it
            log.exception("delivery id=%s notifier=%r crashed", digest.id, digest.notifier)
            error = NotifyError(f"unexpected {type(exc).__name__}: {exc}")
        else:
            self._record_delivered(digest)
            self.observer.delivery_attempted(digest, "ok", self.clock())
            log.info("delivery id=%s notifier=%r kind=%s stories=%d delivered (attempt %d)",
                     digest.id, digest.notifier, digest.kind, len(digest.stories), attempts)
            return None
        return self._failed(digest, attempts, error)

    def _failed(self, digest: Digest, attempts: int, error: NotifyError) -> tuple[bool, str]:
        """Record a failed attempt: retried with backoff, or dead-lettered."""
        config = self.configs[digest.notifier]
        now = self.clock()
        try:
            when = next_attempt(attempts, digest.created_at, now, config, error,
                                self.rng.random())
        except Exception:  # noqa: BLE001 - e.g. a notifier's retry_after of the wrong type
            # Without a recorded outcome the delivery would stay `sending` and be retried
            # at every tick, ahead of the notifier's later digests: use the plain backoff.
            log.exception("delivery id=%s notifier=%r: retry time not computable from the "
                          "error; using the plain backoff", digest.id, digest.notifier)
            when = next_attempt(attempts, digest.created_at, now, config,
                                NotifyError(str(error), permanent=error.permanent),
                                self.rng.random())
        self.outbox.mark_failed(digest.id, str(error), now, when)
        self.observer.delivery_attempted(digest, "dead" if when is None else "failed", now)
        log.warning("delivery id=%s notifier=%r attempt=%d failed: %s; %s", digest.id,
                    digest.notifier, attempts, error,
                    "dead-lettered" if when is None else f"next attempt {when:%H:%M:%S}Z")
        return when is None, str(error)
