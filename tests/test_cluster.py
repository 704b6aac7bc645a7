"""The pure decisions of nodes sharing a database (monitor/cluster.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor import cluster
from monitor.cluster import NodeIdentity, NodeInfo, SourceClaim, Workload
from monitor.config import load_config_data

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=5)


def node(node_id: str, heartbeat: datetime, config_hash: str = "abc") -> NodeInfo:
    return NodeInfo(NodeIdentity(node_id, f"host-{node_id}", 100, NOW - timedelta(hours=2),
                                 config_hash), heartbeat)


def test_alone_a_node_claims_every_due_source_without_counting_them() -> None:
    claim = cluster.claim_due("a", NOW, TIMEOUT, work=None)
    assert claim == SourceClaim("a", NOW, NOW + TIMEOUT, due_by=NOW, limit=None)
    assert cluster.surplus("a", None) == 0


def work(due: int, **held: int) -> Workload:
    return Workload(due, held)


def test_among_live_nodes_a_node_claims_its_share_of_the_due_sources() -> None:
    assert cluster.claim_due("a", NOW, TIMEOUT, work=work(10, a=0, b=0)) == SourceClaim(
        "a", NOW, NOW + TIMEOUT, due_by=NOW, limit=5)
    # rounded up: the last source is never left to wait for the next tick
    claim = cluster.claim_due("a", NOW, TIMEOUT, work=work(7, a=0, b=0, c=0))
    assert claim is not None and claim.limit == 3
    assert cluster.claim_due("a", NOW, TIMEOUT, work=work(1, a=0, b=0, c=0)) == SourceClaim(
        "a", NOW, NOW + TIMEOUT, due_by=NOW, limit=1)
    assert cluster.claim_due("a", NOW, TIMEOUT, work=work(0, a=0, b=0)) is None


def test_the_share_counts_what_each_node_holds_already() -> None:
    # b started first and holds 10 sources waiting for their hosts: a, new, takes all 4
    # due, and b gives back 3 (its share is 7 of the 14)
    claim = cluster.claim_due("a", NOW, TIMEOUT, work=work(4, a=0, b=10))
    assert claim is not None and claim.limit == 4
    assert cluster.claim_due("b", NOW, TIMEOUT, work=work(4, a=0, b=10)) is None
    assert cluster.surplus("b", work(4, a=0, b=10)) == 3
    assert cluster.surplus("a", work(4, a=0, b=10)) == 0
    # holding a few in flight (its share is 2), a node still claims a half of the due
    claim = cluster.claim_due("a", NOW, TIMEOUT, work=work(6, a=4, b=0))
    assert claim is not None and claim.limit == 3
    # a node a joining node does not know yet (not in the table) counts as one
    assert cluster.share("c", work(0, a=3, b=3)) == 2
    # a little above its share (by a tenth of it or less): kept, not given back
    assert cluster.surplus("b", work(0, a=90, b=110)) == 0
    assert cluster.surplus("b", work(0, a=80, b=120)) == 20


def test_a_node_that_stopped_beating_has_no_share() -> None:
    """Killed, a node is live until its leases lapse (5 minutes by default) but claims
    nothing: the others take all the work, rather than claim half and give back the rest."""
    beating = NodeInfo(node("a", NOW).identity, NOW - timedelta(seconds=4), sources=40)
    killed = NodeInfo(node("b", NOW).identity, NOW - timedelta(seconds=16), sources=30)
    work = cluster.workload([beating, killed], 500, NOW, TIMEOUT)
    assert work == Workload(500, {"a": 40})
    assert cluster.claim_due("a", NOW, TIMEOUT, work=work) == SourceClaim(
        "a", NOW, NOW + TIMEOUT, due_by=NOW, limit=500)
    assert cluster.surplus("a", work) == 0


def test_monitor_once_claims_every_source_due_or_not() -> None:
    assert cluster.claim_all("a", NOW, TIMEOUT) == SourceClaim("a", NOW, NOW + TIMEOUT, None)


def test_a_node_beats_often_enough_that_its_leases_never_lapse_while_it_lives() -> None:
    assert cluster.heartbeat_every(timedelta(minutes=5)) == timedelta(seconds=5)
    assert cluster.heartbeat_every(timedelta(seconds=3)) == timedelta(seconds=1)


def test_a_node_is_alive_while_its_heartbeat_is_younger_than_the_lease_timeout() -> None:
    assert cluster.alive(node("a", NOW - timedelta(minutes=4, seconds=59)), NOW, TIMEOUT)
    assert not cluster.alive(node("a", NOW - TIMEOUT), NOW, TIMEOUT)
    nodes = [node("a", NOW), node("b", NOW - timedelta(minutes=6))]
    assert [n.id for n in cluster.live_nodes(nodes, NOW, TIMEOUT)] == ["a"]


def test_on_a_database_one_process_writes_every_other_node_is_forgotten() -> None:
    nodes = [node("me", NOW), node("crashed", NOW - timedelta(seconds=1)),
             node("old", NOW - timedelta(days=2))]
    assert cluster.nodes_to_forget(nodes, "me", NOW, TIMEOUT, shared=False) == (
        "crashed", "old")


def test_on_a_shared_database_only_long_silent_nodes_are_forgotten() -> None:
    nodes = [node("me", NOW), node("live", NOW - timedelta(seconds=1)),
             node("lost", NOW - timedelta(minutes=10)), node("old", NOW - timedelta(hours=1))]
    assert cluster.nodes_to_forget(nodes, "me", NOW, TIMEOUT, shared=True) == ("old",)
    # a lease timeout longer than an hour: a node is not forgotten before its leases lapse
    assert cluster.nodes_to_forget(nodes, "me", NOW, timedelta(hours=2), shared=True) == ()


def test_only_live_nodes_running_another_config_conflict() -> None:
    me = NodeIdentity("me", "h", 1, NOW, "abc")
    others = [node("same", NOW, "abc"), node("other", NOW, "def"),
              node("dead", NOW - timedelta(minutes=6), "def")]
    assert [n.id for n in cluster.conflicts(me, others, NOW, TIMEOUT)] == ["other"]
    text = cluster.refusal(me, cluster.conflicts(me, others, NOW, TIMEOUT), "postgresql://db/m")
    assert "host-other pid 100 (config def)" in text
    assert "this one is abc" in text and "same sources, topics and notifiers" in text


BASE = {
    "monitor": {"max_concurrency": 8},
    "topics": [{"name": "t", "query": "ceasefire"}],
    "sources": [{"name": "s", "type": "feed", "url": "https://a.example/rss"}],
    "notifiers": [{"name": "f", "type": "file", "path": "digests.log"}],
}


def test_the_config_hash_covers_sources_topics_and_notifiers_not_monitor_settings() -> None:
    first = cluster.config_hash(load_config_data(BASE))
    assert len(first) == 12
    assert cluster.config_hash(load_config_data(BASE)) == first
    other_machine = {**BASE, "monitor": {"max_concurrency": 64}}
    assert cluster.config_hash(load_config_data(other_machine)) == first
    for changed in ({"sources": [{"name": "s", "type": "feed", "url": "https://b.example/rss"}]},
                    {"topics": [{"name": "t", "query": "truce"}]},
                    {"notifiers": [{"name": "f", "type": "file", "path": "other.log"}]}):
        assert cluster.config_hash(load_config_data({**BASE, **changed})) != first


def test_a_node_info_is_named_by_its_identity() -> None:
    info = node("a", NOW)
    assert info.id == "a"
    assert replace(info, sources=3).id == "a"
