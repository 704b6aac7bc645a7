"""The outbox: stories queued for notifiers, claimed into digests, marked as they are sent.

- queue (PURE): a story that alerts waits for the next digest of every notifier subscribed
  to its topic; a health change's notice is a digest of its own, made at once. These are
  intents (monitor/intents.py) that a poll's commit writes with its items and stories.
- claim: a notifier's queued stories are frozen into one pending delivery (its digest),
  under an id that stays the same across retries. Which queued stories go into the digest
  is decided here (``digest_stories``); the store is given their ids.
- due: which deliveries are attempted now (``DUE_STATUSES``, whose retry time has come,
  and that no node is sending).
- take: each attempt is recorded before it is made (sending), the delivery leased to the
  node sending it, so that of several nodes one sends it; a node that dies leaves it to
  another once the lease lapses.
- mark: then delivered, or failed with a time to retry, or dead (the lease released).
- retry: `monitor deliveries --retry` makes deliveries due now (``plan_retry``).

Used by the pipeline's commit (monitor/plan.py) and by the delivery stage (monitor/deliver.py);
the rows themselves are the store's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.cluster import Lease
from monitor.intents import QueueDigest, QueueStory, StoryRef
from monitor.types import DeliveryStatus, Digest

# The deliveries attempted once their retry time has come: new ones, failed ones, and one
# left `sending` by a crash (resent under its id). Delivered and dead ones are not.
DUE_STATUSES: tuple[DeliveryStatus, ...] = ("pending", "sending", "failed")
# What `monitor deliveries --retry` makes due now: every delivery not delivered. A dead one
# starts over as failed with no attempt counted, so it gets its notifier's max_attempts again.
RETRIED_STATUSES: tuple[DeliveryStatus, ...] = ("pending", "failed", "dead", "sending")
RESTARTED_STATUSES: tuple[DeliveryStatus, ...] = ("dead",)


@dataclass(frozen=True)
class Reschedule:
    """Make deliveries due at ``due_at``: those whose status is in ``statuses`` (only the
    one with id ``digest_id`` when it is given). Those whose status is in ``restart`` become
    ``restart_as`` with their attempts set to 0; the others keep status and attempts."""

    due_at: datetime
    statuses: tuple[DeliveryStatus, ...]
    restart: tuple[DeliveryStatus, ...] = ()
    restart_as: DeliveryStatus = "failed"
    digest_id: str | None = None


def queue_story(story: StoryRef, topic: str,
                subscribers: Mapping[str, Sequence[str]]) -> tuple[QueueStory, ...]:
    """PURE: outbox rows for an alerting story, one per notifier subscribed to its topic."""
    notifiers = tuple(subscribers.get(topic, ()))
    return (QueueStory(story, notifiers),) if notifiers else ()


def queue_notice(digest_id: str, notifier: str, now: datetime, text: str) -> QueueDigest:
    """PURE: a health notice for one notifier, as a digest of its own, pending at once."""
    return QueueDigest(Digest(id=digest_id, notifier=notifier, created_at=now, stories=(),
                              kind="health", text=text))


def digest_stories(queued: Sequence[int]) -> tuple[int, ...]:
    """PURE: which of a notifier's queued stories (story ids, in the order queued) go into
    its next digest: every one, in that order, each once."""
    return tuple(dict.fromkeys(queued))


def plan_retry(digest_id: str | None, now: datetime) -> Reschedule:
    """PURE: `monitor deliveries --retry`: the delivery ``digest_id`` (every one when None)
    is due now unless delivered; a dead one starts over."""
    return Reschedule(due_at=now, statuses=RETRIED_STATUSES, restart=RESTARTED_STATUSES,
                      restart_as="failed", digest_id=digest_id)


class OutboxStore(Protocol):
    """What the outbox needs of a store (monitor.store.base.Store has it all)."""

    def queued_stories(self, notifier: str) -> list[int]: ...

    def make_digest(self, notifier: str, story_ids: Sequence[int], now: datetime,
                    digest_id: str) -> Digest | None: ...

    def due_deliveries(self, notifier: str, statuses: Sequence[DeliveryStatus],
                       now: datetime) -> list[Digest]: ...

    def reschedule_deliveries(self, plan: Reschedule) -> int: ...

    def claim_delivery(self, digest_id: str, statuses: Sequence[DeliveryStatus],
                       lease: Lease) -> int | None: ...

    def mark_delivered(self, digest_id: str, now: datetime) -> None: ...

    def mark_failed(self, digest_id: str, error: str, now: datetime,
                    next_attempt_at: datetime) -> None: ...

    def mark_dead(self, digest_id: str, error: str, now: datetime) -> None: ...


class Outbox:
    """The delivery stage's side of the outbox, on a store."""

    def __init__(self, store: OutboxStore) -> None:
        self.store = store

    def claim(self, notifier: str, now: datetime, digest_id: str) -> Digest | None:
        """Freeze the notifier's queued stories into one pending digest (None: no story)."""
        chosen = digest_stories(self.store.queued_stories(notifier))
        if not chosen:
            return None
        return self.store.make_digest(notifier, chosen, now, digest_id)

    def due(self, notifier: str, now: datetime) -> list[Digest]:
        """The notifier's digests to attempt now, oldest first (an interrupted `sending`
        one is resent under its id)."""
        return self.store.due_deliveries(notifier, DUE_STATUSES, now)

    def retry(self, digest_id: str | None, now: datetime) -> int:
        """Make the delivery ``digest_id`` (every one when None) due now; returns how many
        were."""
        return self.store.reschedule_deliveries(plan_retry(digest_id, now))

    def take(self, digest_id: str, lease: Lease) -> int | None:
        """Record an attempt before it is made, leased to ``lease.owner``; the attempt
        number, or None when another node is sending it or it is no longer due."""
        return self.store.claim_delivery(digest_id, DUE_STATUSES, lease)

    def mark_delivered(self, digest_id: str, now: datetime) -> None:
        self.store.mark_delivered(digest_id, now)

    def mark_failed(self, digest_id: str, error: str, now: datetime,
                    next_attempt_at: datetime | None) -> None:
        """A failed attempt, retried at ``next_attempt_at``; None dead-letters it."""
        if next_attempt_at is None:
            self.store.mark_dead(digest_id, error, now)
        else:
            self.store.mark_failed(digest_id, error, now, next_attempt_at)
