"""The outbox's decisions, with no database: which queued stories a digest takes, which
deliveries are due, what `monitor deliveries --retry` makes due. The store is a recording
fake that answers what it is told and keeps what it was asked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from monitor.outbox import Outbox, Reschedule, digest_stories, plan_retry
from monitor.types import DeliveryStatus, Digest

NOW = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
ALL: tuple[DeliveryStatus, ...] = ("pending", "sending", "failed", "delivered", "dead")


class AskedStore:
    """An OutboxStore that keeps each request and answers from ``queued``."""

    def __init__(self, queued: Sequence[int] = ()) -> None:
        self.queued = list(queued)
        self.claimed: list[tuple[str, tuple[int, ...], str]] = []
        self.due_asked: list[tuple[DeliveryStatus, ...]] = []
        self.rescheduled: list[Reschedule] = []

    def queued_stories(self, notifier: str) -> list[int]:
        return self.queued

    def make_digest(self, notifier: str, story_ids: Sequence[int], now: datetime,
                    digest_id: str) -> Digest | None:
        self.claimed.append((notifier, tuple(story_ids), digest_id))
        return Digest(id=digest_id, notifier=notifier, created_at=now, stories=())

    def due_deliveries(self, notifier: str, statuses: Sequence[DeliveryStatus],
                       now: datetime) -> list[Digest]:
        self.due_asked.append(tuple(statuses))
        return []

    def reschedule_deliveries(self, plan: Reschedule) -> int:
        self.rescheduled.append(plan)
        return 1

    def mark_sending(self, digest_id: str, now: datetime) -> int:
        return 1

    def mark_delivered(self, digest_id: str, now: datetime) -> None:
        pass

    def mark_failed(self, digest_id: str, error: str, now: datetime,
                    next_attempt_at: datetime) -> None:
        pass

    def mark_dead(self, digest_id: str, error: str, now: datetime) -> None:
        pass


def test_a_digest_takes_every_queued_story_once_in_queue_order() -> None:
    assert digest_stories([7, 3, 9, 3]) == (7, 3, 9)
    assert digest_stories([]) == ()


def test_a_claim_names_the_stories_it_takes_and_writes_nothing_when_none_is_queued() -> None:
    store = AskedStore([4, 2])
    outbox = Outbox(store)
    assert outbox.claim("desk", NOW, "d1") is not None
    assert store.claimed == [("desk", (4, 2), "d1")]
    store.queued = []
    assert outbox.claim("desk", NOW, "d2") is None
    assert len(store.claimed) == 1


def test_due_deliveries_are_new_failed_and_interrupted_ones_never_delivered_or_dead() -> None:
    store = AskedStore()
    Outbox(store).due("desk", NOW)
    (asked,) = store.due_asked
    assert set(asked) == {"pending", "sending", "failed"}


def due_after(plan: Reschedule, status: DeliveryStatus, attempts: int
              ) -> tuple[DeliveryStatus, int] | None:
    """What ``plan`` makes of a delivery in ``status``: (status, attempts) or None (left)."""
    if status not in plan.statuses:
        return None
    if status in plan.restart:
        return plan.restart_as, 0
    return status, attempts


def test_a_retry_makes_every_undelivered_delivery_due_and_a_dead_one_start_over() -> None:
    plan = plan_retry(None, NOW)
    assert plan.due_at == NOW and plan.digest_id is None
    after = {status: due_after(plan, status, 3) for status in ALL}
    assert after == {"pending": ("pending", 3), "sending": ("sending", 3),
                     "failed": ("failed", 3), "delivered": None, "dead": ("failed", 0)}


def test_a_retry_of_one_delivery_names_it() -> None:
    store = AskedStore()
    assert Outbox(store).retry("d7", NOW) == 1
    assert [p.digest_id for p in store.rescheduled] == ["d7"]
