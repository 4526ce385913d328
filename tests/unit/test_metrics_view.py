"""Merging the snapshots of several metrics instances into one site-wide view."""

from __future__ import annotations

from datetime import timedelta

from services.metrics.aggregator import Aggregator
from services.metrics.view import PeerSnapshots, summarise
from shared.events import MetricsSnapshot, RequestObserved, utc_now


def observed(latency_ms: float, status: int = 200) -> RequestObserved:
    return RequestObserved(
        correlation_id="c",
        service="frontend",
        instance_id="f1",
        method="GET",
        route="/",
        status=status,
        latency_ms=latency_ms,
    )


def snapshot_of(instance: str, partitions: tuple[str, ...], latencies: list[float]) -> MetricsSnapshot:
    aggregator = Aggregator()
    for latency in latencies:
        aggregator.observe(observed(latency, status=500 if latency > 900 else 200))
    return aggregator.snapshot(instance, partitions)


def test_two_instances_add_up_to_the_whole_site() -> None:
    a = snapshot_of("a", ("metrics.requests/0",), [10.0] * 90)
    b = snapshot_of("b", ("metrics.requests/1",), [1000.0] * 10)
    peers = PeerSnapshots("a")
    peers.add(b)
    window = summarise(peers.live(a), [])["windows"]["10s"]
    assert window["requests"] == 100
    assert window["errors"] == 10
    assert window["error_ratio"] == 0.1
    assert 9.5 <= window["latency_ms"]["p50"] <= 10.5
    assert 980 <= window["latency_ms"]["p99"] <= 1020


def test_a_stale_or_superseded_peer_no_longer_counts() -> None:
    own = snapshot_of("a", ("metrics.requests/0", "metrics.requests/1"), [10.0])
    old_owner = snapshot_of("b", ("metrics.requests/1",), [10.0] * 5)
    peers = PeerSnapshots("a")
    # b's last word predates a's snapshot and claims a partition a owns now: a rebalance moved it.
    peers.add(old_owner.model_copy(update={"occurred_at": own.occurred_at - timedelta(seconds=1)}))
    assert [s.instance_id for s in peers.live(own)] == ["a"]
    stale = snapshot_of("c", ("metrics.requests/2",), [10.0])
    peers.add(stale.model_copy(update={"occurred_at": utc_now() - timedelta(minutes=1)}))
    assert [s.instance_id for s in peers.live(own)] == ["a"]
