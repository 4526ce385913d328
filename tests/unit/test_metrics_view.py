"""Merging the snapshots of several metrics instances into one site-wide view."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from services.metrics.aggregator import Aggregator
from services.metrics.api import metrics_router
from services.metrics.engine import MetricsEngine
from services.metrics.view import PeerSnapshots, summarise
from shared.events import MetricsSnapshot, RequestObserved, utc_now
from shared.settings import KafkaSettings


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
    window = summarise(peers.live(a)).window(10)
    assert window.requests == 100
    assert window.errors == 10
    assert window.error_ratio == 0.1
    assert window.latency_ms.p50 is not None
    assert 9.5 <= window.latency_ms.p50 <= 10.5
    assert window.latency_ms.p99 is not None
    assert 980 <= window.latency_ms.p99 <= 1020


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


async def test_the_summary_route_documents_its_schema_and_keeps_the_dashboards_field_names() -> None:
    engine = MetricsEngine("a", KafkaSettings(), "metrics")
    engine.summary = summarise([snapshot_of("a", ("metrics.requests/0",), [10.0] * 5)])
    app = FastAPI()
    app.include_router(metrics_router(engine))
    async with AsyncClient(transport=ASGITransport(app), base_url="http://metrics") as client:
        body = (await client.get("/api/metrics/summary")).json()
        alerts = (await client.get("/api/metrics/alerts")).json()
        schema = (await client.get("/openapi.json")).json()

    assert set(body) == {"generated_at", "at", "instances", "jobs", "windows", "alerts"}
    assert set(body["windows"]) == {"10s", "60s", "300s"}
    window = body["windows"]["10s"]
    assert window["requests"] == 5
    assert set(window["latency_ms"]) == {"p50", "p95", "p99"}
    assert window["routes"][0]["method"] == "GET"
    assert alerts == []
    ok = schema["paths"]["/api/metrics/summary"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/MetricsSummary"}
