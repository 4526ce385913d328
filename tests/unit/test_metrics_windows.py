"""Rolling windows and the aggregator: events land in the right buckets and age out."""

from __future__ import annotations

from datetime import UTC, datetime

from services.metrics.aggregator import Aggregator, from_window_message, to_window_message
from services.metrics.windows import RollingWindow
from shared.events import (
    JobRequested,
    JobStatus,
    JobStatusChanged,
    LinkClicked,
    MediaKind,
    Rendition,
    RequestObserved,
)

NOW = 1_800_000_000.0


def at(seconds_ago: float) -> datetime:
    return datetime.fromtimestamp(NOW - seconds_ago, UTC)


def request(
    seconds_ago: float, latency_ms: float = 10.0, status: int = 200, route: str = "/api/jobs"
) -> RequestObserved:
    return RequestObserved(
        correlation_id="c",
        occurred_at=at(seconds_ago),
        service="frontend",
        instance_id="f1",
        method="GET",
        route=route,
        status=status,
        latency_ms=latency_ms,
        bytes_out=100,
    )


def test_events_older_than_the_span_are_left_out() -> None:
    window = RollingWindow(10, 1)
    assert window.bucket(NOW - 30, NOW) is None
    bucket = window.bucket(NOW - 3, NOW)
    assert bucket is not None
    bucket.uploads += 1
    assert window.figures(NOW).uploads == 1
    assert window.figures(NOW + 11).uploads == 0


def test_each_window_counts_what_fell_inside_it() -> None:
    aggregator = Aggregator()
    for seconds_ago in (1, 2, 30, 200):
        aggregator.observe(request(seconds_ago), NOW)
    aggregator.observe(request(400), NOW)
    spans = {w.span_s: w.figures(NOW) for w in aggregator.windows}
    assert [spans[s].routes[("GET", "/api/jobs")].requests for s in (10, 60, 300)] == [2, 3, 4]
    assert aggregator.too_old == 1


def test_latency_quantiles_come_from_the_sketch() -> None:
    aggregator = Aggregator()
    for latency in range(1, 101):
        aggregator.observe(request(1, latency_ms=float(latency)), NOW)
    sketch = aggregator.windows[0].figures(NOW).routes[("GET", "/api/jobs")].latency_ms
    p95 = sketch.get_quantile_value(0.95)
    assert p95 is not None
    assert abs(p95 - 95) <= 2


def test_job_timings_are_derived_from_requested_and_status_events() -> None:
    aggregator = Aggregator()
    aggregator.observe(
        JobRequested(
            correlation_id="c",
            occurred_at=at(9),
            job_id="j1",
            kind=MediaKind.IMAGE,
            source_key="k",
            filename="a.jpg",
            content_type="image/jpeg",
            size_bytes=1000,
        ),
        NOW,
    )
    processing = JobStatusChanged(
        correlation_id="c", occurred_at=at(6), job_id="j1", status=JobStatus.PROCESSING, worker_id="w1"
    )
    done = JobStatusChanged(
        correlation_id="c",
        occurred_at=at(2),
        job_id="j1",
        status=JobStatus.DONE,
        worker_id="w1",
        renditions=(Rendition(name="t", content_type="image/webp", width=1, height=1, bytes=300, key="k"),),
    )
    aggregator.observe(processing, NOW)
    assert aggregator.jobs.processing == 1
    for event in (done, done, processing):  # redeliveries and late reports count once
        aggregator.observe(event, NOW)
    figures = aggregator.windows[0].figures(NOW)
    assert (figures.uploads, figures.jobs_done, figures.bytes_in, figures.bytes_out) == (1, 1, 1000, 300)
    assert round(figures.queue_wait_s.sum) == 3
    assert round(figures.workers["w1"].busy_s) == 4
    assert (aggregator.jobs.queued, aggregator.jobs.processing) == (0, 0)
    assert aggregator.jobs.totals["done"] == 1


def test_a_window_survives_the_trip_through_a_snapshot() -> None:
    aggregator = Aggregator()
    for latency in (5.0, 50.0, 500.0):
        aggregator.observe(request(1, latency_ms=latency, status=503), NOW)
    aggregator.observe(
        LinkClicked(correlation_id="c", occurred_at=at(1), link="/docs", instance_id="f1"), NOW
    )
    figures = aggregator.windows[0].figures(NOW)
    back = from_window_message(to_window_message(10, figures))
    route = back.routes[("GET", "/api/jobs")]
    assert (route.requests, route.errors, route.latency_ms.count) == (3, 3, 3)
    assert back.clicks["/docs"] == 1
