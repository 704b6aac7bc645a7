"""The commit planners on records alone, no database: which story a match joins, whether it
alerts, re-alerts, the actors union, the outbox rows, the health digests."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.events import KnownEvent
from monitor.intents import (
    AddSource,
    CloseIncident,
    CommitFacts,
    FollowEvent,
    JoinStory,
    LinkCopy,
    MarkAlerted,
    MoveSource,
    Opened,
    OpenEvent,
    OpenIncident,
    OpenStory,
    PendingStory,
    QueueDigest,
    QueueStory,
    RecordHealthAlert,
    RestoreSource,
    RetireSource,
    SetNovelty,
    StoryState,
    SupersedeEvent,
    WidenActors,
)
from monitor.outbox import queue_story
from monitor.plan import (
    alerting_stories,
    plan_backfill,
    plan_health,
    plan_seed,
    plan_sources,
    plan_stories,
)
from monitor.types import (
    Classification,
    Digest,
    HealthChange,
    NewItem,
    ParsedItem,
    PollRecord,
    SourceState,
    StoryDecision,
)

NOW = datetime(2026, 3, 9, 8, 30, tzinfo=UTC)
SUBSCRIBERS = {"envoys": ("desk-mail", "hook")}


def item(n: int, reason: str = "new", duplicate_of: int | None = None) -> NewItem:
    parsed = ParsedItem(guid=f"g{n}", url=f"https://desk.example/{n}",
                        title=f"Harbour ministry names envoy {n}", summary="A short lead.")
    return NewItem(parsed, parsed.url, reason, duplicate_of)


def decision(index: int, actors: tuple[str, ...] = ("Chile",), story_id: int | None = None,
             same_as: int | None = None) -> StoryDecision:
    verdict = Classification(topic="envoys", match=True, score=0.8,
                             category="recognition_step", actors=actors,
                             evidence="Chile names an envoy.", rules=("envoy",))
    return StoryDecision(index, "envoys", verdict, story_id, same_as)


def plan(items: tuple[NewItem, ...], decisions: tuple[StoryDecision, ...],
         inserted: set[int] | None = None, stories_of: dict[tuple[int, str], int] | None = None,
         stories: dict[int, StoryState] | None = None) -> tuple[object, ...]:
    record = PollRecord(SourceState("desk", "https://desk.example/rss"), items, decisions)
    facts = CommitFacts(frozenset(range(len(items)) if inserted is None else inserted),
                        stories_of or {}, stories or {})
    return plan_stories(record, facts, SUBSCRIBERS, NOW)


def test_a_match_with_no_story_opens_one_queued_for_the_topics_notifiers() -> None:
    intents = plan((item(0),), (decision(0),))
    ref = Opened(0, "envoys")
    opened = intents[0]
    assert isinstance(opened, OpenStory) and opened.ref == ref and opened.alert
    assert opened.title == "Harbour ministry names envoy 0"
    assert intents[1:] == (QueueStory(ref, ("desk-mail", "hook")), JoinStory(0, ref))


def test_an_item_too_old_opens_a_story_recorded_without_alert() -> None:
    intents = plan((item(0, "old"),), (decision(0),))
    assert isinstance(intents[0], OpenStory) and not intents[0].alert
    assert not any(isinstance(i, QueueStory) for i in intents)


def test_a_match_joins_the_story_an_earlier_item_of_the_poll_opened() -> None:
    intents = plan((item(0), item(1)), (decision(0), decision(1, same_as=0)))
    ref = Opened(0, "envoys")
    assert intents[-1] == JoinStory(1, ref)
    assert sum(isinstance(i, OpenStory) for i in intents) == 1


def test_a_match_whose_poll_story_was_not_opened_opens_its_own() -> None:
    # Item 0 was not inserted (another writer stored its guid): it opens nothing.
    intents = plan((item(0), item(1)), (decision(0), decision(1, same_as=0)),
                   inserted={1})
    assert [i.ref for i in intents if isinstance(i, OpenStory)] == [Opened(1, "envoys")]
    assert not any(getattr(i, "item", None) == 0 for i in intents)


def test_matches_whose_poll_story_was_not_opened_open_one_story_together() -> None:
    # The first of them stands in for the item not inserted: the others join its story.
    intents = plan((item(0), item(1), item(2)),
                   (decision(0), decision(1, same_as=0), decision(2, same_as=0)),
                   inserted={1, 2})
    ref = Opened(1, "envoys")
    assert [i.ref for i in intents if isinstance(i, OpenStory)] == [ref]
    assert [i for i in intents if isinstance(i, JoinStory)] == [JoinStory(1, ref),
                                                                 JoinStory(2, ref)]


def test_matches_grouped_with_a_copy_share_a_story_of_their_own() -> None:
    # Item 0 copies stored item 40, whose story 7 it joins through the link: the matches
    # grouped with it do not follow it there (a story the grouper did not choose, perhaps
    # weeks old, whose joiners would alert nobody). They make one story of their own.
    intents = plan((item(0, "duplicate", duplicate_of=40), item(1), item(2)),
                   (decision(0), decision(1, same_as=0), decision(2, ("Peru",), same_as=0)),
                   stories_of={(40, "envoys"): 7}, stories={7: StoryState(True, ("Chile",))})
    ref = Opened(1, "envoys")
    opened = [i for i in intents if isinstance(i, OpenStory)]
    assert [i.ref for i in opened] == [ref] and opened[0].alert
    assert QueueStory(ref, ("desk-mail", "hook")) in intents
    assert [i for i in intents if isinstance(i, JoinStory)] == [
        JoinStory(0, 7), JoinStory(1, ref), JoinStory(2, ref)]
    assert [i for i in intents if isinstance(i, WidenActors)] == [
        WidenActors(ref, ("Chile", "Peru"))]


def test_a_record_only_stand_in_is_alerted_by_a_fresh_follower() -> None:
    intents = plan((item(0), item(1, "old"), item(2)),
                   (decision(0), decision(1, same_as=0), decision(2, same_as=0)),
                   inserted={1, 2})
    ref = Opened(1, "envoys")
    assert [(i.ref, i.alert) for i in intents if isinstance(i, OpenStory)] == [(ref, False)]
    assert intents[-3:] == (MarkAlerted(ref), QueueStory(ref, ("desk-mail", "hook")),
                            JoinStory(2, ref))
    assert alerting_stories(intents) == (("envoys", "recognition_step"),)   # the metrics'
    # but not a story of an earlier poll alerted now
    assert alerting_stories(plan((item(0),), (decision(0, story_id=7),),
                                 stories={7: StoryState(False, ("Chile",))})) == ()


def test_a_copy_joins_its_originals_stories_and_its_story_of_the_topic() -> None:
    intents = plan((item(0, "duplicate", duplicate_of=40),), (decision(0),),
                   stories_of={(40, "envoys"): 7}, stories={7: StoryState(True, ("Chile",))})
    assert intents == (LinkCopy(0, 40), JoinStory(0, 7))


def test_a_fresh_report_alerts_a_story_recorded_without_alert_once() -> None:
    intents = plan((item(0), item(1)), (decision(0, story_id=7), decision(1, story_id=7)),
                   stories={7: StoryState(False, ("Chile",))})
    assert intents == (MarkAlerted(7), QueueStory(7, ("desk-mail", "hook")), JoinStory(0, 7),
                       JoinStory(1, 7))


def test_an_old_or_copied_report_does_not_alert_a_record_only_story() -> None:
    intents = plan((item(0, "old"),), (decision(0, story_id=7),),
                   stories={7: StoryState(False, ("Chile",))})
    assert intents == (JoinStory(0, 7),)


def test_a_story_s_actors_are_the_union_of_its_items() -> None:
    intents = plan((item(0), item(1), item(2)),
                   (decision(0, ("Peru", "Chile", "Peru"), story_id=7),
                    decision(1, ("Chile",), story_id=7),
                    decision(2, ("Chile", "Bolivia"), story_id=7)),
                   stories={7: StoryState(True, ("Chile",))})
    assert [i for i in intents if isinstance(i, WidenActors)] == [
        WidenActors(7, ("Chile", "Peru")), WidenActors(7, ("Chile", "Peru", "Bolivia"))]


def test_health_changes_become_incident_writes_and_one_digest_per_notifier() -> None:
    opened = datetime(2026, 3, 9, 6, 0, tzinfo=UTC)
    changes = (HealthChange("desk", "failing", "open", opened, ""),
               HealthChange("desk", "failing", "alert", opened, "Desk is failing.",
                            ("ops", "pager")),
               HealthChange("desk", "silent", "close", opened, "Desk is back.", ("ops",), 12))
    ids = iter(["d1", "d2", "d3"])
    intents = plan_health(changes, NOW, lambda: next(ids))

    def digest(digest_id: str, notifier: str, text: str) -> QueueDigest:
        return QueueDigest(Digest(id=digest_id, notifier=notifier, created_at=NOW, stories=(),
                                  kind="health", text=text))

    assert intents == (
        OpenIncident("desk", "failing", opened, ""),
        RecordHealthAlert("desk", "failing", None, "ops"), digest("d1", "ops", "Desk is failing."),
        RecordHealthAlert("desk", "failing", None, "pager"),
        digest("d2", "pager", "Desk is failing."),
        CloseIncident("desk", "silent", 12), digest("d3", "ops", "Desk is back."))


def test_a_new_source_is_added_and_a_changed_url_makes_a_new_feed() -> None:
    stored = SourceState("desk", "https://mirror.example/rss", etag='"v4"', body_hash="abc",
                         first_polled_at=NOW, last_new_item_at=NOW, consecutive_failures=2,
                         gone=True)
    later = datetime(2026, 3, 10, tzinfo=UTC)
    intents = plan_sources([("desk", "https://harbour.example/feed"),
                            ("wire", "https://wire.example/rss")],
                           {"desk": ("https://desk.example/rss", stored)}, later)
    moved = SourceState("desk", "https://harbour.example/feed", consecutive_failures=2,
                        next_poll_at=later)
    assert intents == (MoveSource("https://harbour.example/feed", moved),
                       AddSource("wire", "https://wire.example/rss", later))


def test_a_source_whose_configured_url_is_unchanged_keeps_its_redirect() -> None:
    stored = SourceState("desk", "https://mirror.example/rss", etag='"v4"')
    assert plan_sources([("desk", "https://desk.example/rss")],
                        {"desk": ("https://desk.example/rss", stored)}, NOW) == ()


def test_a_source_gone_from_the_config_is_retired_and_restored_when_back() -> None:
    desk = SourceState("desk", "https://desk.example/rss")
    wire = SourceState("wire", "https://wire.example/rss")
    stored = {"desk": ("https://desk.example/rss", desk),
              "wire": ("https://wire.example/rss", wire)}
    assert plan_sources([("desk", "https://desk.example/rss")], stored, NOW) == (
        RetireSource("wire", NOW),)
    # already retired: nothing to write; back in the config: restored
    assert plan_sources([("desk", "https://desk.example/rss")], stored, NOW,
                        retired={"wire"}) == ()
    assert plan_sources([("desk", "https://desk.example/rss"),
                         ("wire", "https://wire.example/rss")], stored, NOW,
                        retired={"wire"}) == (RestoreSource("wire"),)


def test_a_story_of_a_topic_nobody_subscribes_to_queues_no_outbox_row() -> None:
    assert queue_story(Opened(0, "envoys"), "harbours", SUBSCRIBERS) == ()
    assert queue_story(7, "envoys", SUBSCRIBERS) == (QueueStory(7, ("desk-mail", "hook")),)


# -- the event ledger's writes (monitor/events.py) -----------------------------------

def step(topic: str = "envoys", actors: tuple[str, ...] = ("Chile",)) -> Classification:
    return Classification(topic=topic, match=True, score=0.9, category="recognition_step",
                          actors=actors, evidence="Chile accepts the envoy's credentials.",
                          rules=("step:credentials",))


def test_one_report_is_first_in_every_topic_another_follows_it_in_any() -> None:
    """Item 0 opens a story in two topics: the first report in both, one ledger entry.
    Item 1, another report of the step in the same poll, follows it whatever its topic."""
    record = PollRecord(SourceState("desk", "https://desk.example/rss"), (item(0), item(1)),
                        (StoryDecision(0, "envoys", step()),
                         StoryDecision(0, "harbours", step("harbours")),
                         StoryDecision(1, "harbours", step("harbours"))))
    intents = plan_stories(record, CommitFacts(frozenset({0, 1}), {}, {}), SUBSCRIBERS, NOW)
    opened = [i for i in intents if isinstance(i, OpenStory)]
    assert [(o.ref, o.novelty) for o in opened] == [
        (Opened(0, "envoys"), "first"), (Opened(0, "harbours"), "first"),
        (Opened(1, "harbours"), "follow_up")]
    first = KnownEvent("Chile", "accepted_envoy", "Harbour ministry names envoy 0", NOW,
                       "https://desk.example/0")
    assert {o.event for o in opened} == {first.as_event()}
    assert [i for i in intents if isinstance(i, OpenEvent | FollowEvent)] == [
        OpenEvent(first, Opened(0, "envoys")),
        FollowEvent("Chile", "accepted_envoy", Opened(1, "harbours"),
                    "Harbour ministry names envoy 1", "https://desk.example/1", NOW)]


def pending(story_id: int, item_id: int | None, seen: datetime, topic: str = "envoys",
            actors: tuple[str, ...] = ("Chile",)) -> PendingStory:
    return PendingStory(story_id, item_id, f"story {story_id}", f"https://desk.example/{item_id}",
                        None, seen, step(topic, actors))


def test_stories_of_an_older_version_are_placed_in_the_order_they_were_seen() -> None:
    early, late = datetime(2025, 11, 2, tzinfo=UTC), datetime(2025, 12, 2, tzinfo=UTC)
    not_a_step = PendingStory(4, 9, "Rain", "", None, early,
                              Classification("envoys", True, 0.5, None))
    intents = plan_backfill([pending(3, 8, late), pending(1, 5, early), not_a_step,
                             pending(2, 5, early, "harbours")], {})
    first = KnownEvent("Chile", "accepted_envoy", "story 1", early, "https://desk.example/5")
    assert intents == (
        SetNovelty(1, "first", first.as_event()), OpenEvent(first, 1),
        SetNovelty(2, "first", first.as_event()),     # item 5 again, in another topic
        SetNovelty(4, None, None),
        SetNovelty(3, "follow_up", first.as_event()),
        FollowEvent("Chile", "accepted_envoy", 3, "story 3", "https://desk.example/8", late))


def test_a_shipped_entry_older_than_the_monitor_s_takes_its_place() -> None:
    seen = datetime(2026, 1, 10, tzinfo=UTC)
    shipped = (KnownEvent("Chile", "accepted_envoy", "Chile accepts", seen.replace(month=1, day=1),
                          origin="shipped", source="MFA"),
               KnownEvent("Peru", "accepted_envoy", "Peru accepts", seen, origin="shipped",
                          source="MFA"),
               KnownEvent("Bolivia", "embassy", "Bolivia hands over", seen, origin="shipped",
                          source="MFA"))
    stored = {("Chile", "accepted_envoy"): KnownEvent("Chile", "accepted_envoy", "t", seen),
              ("Peru", "accepted_envoy"): KnownEvent("Peru", "accepted_envoy", "t",
                                                     seen.replace(day=2))}
    # Chile: shipped earlier than the monitor saw it; Peru: the monitor saw it first;
    # Bolivia: new to the ledger.
    assert plan_seed(shipped, stored) == (SupersedeEvent(shipped[0]), OpenEvent(shipped[2], None))
