"""The metrics service on the real stack: requests and jobs become figures, alerts raise and clear."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from infra.local.processes import free_port, wait_for_port
from shared.events import (
    ALERTS,
    METRICS_REQUESTS,
    METRICS_WORK,
    AlertState,
    RequestObserved,
    WorkKind,
    WorkOutcome,
)
from shared.kafka import EventProducer
from tests.eventually import eventually, eventually_async
from tests.media_samples import image_bytes, truncated
from tests.system.conftest import Site, read_topic
from tests.video_samples import video_bytes


def summary_when(
    http: httpx.Client, condition: Callable[[dict[str, Any]], bool], within_s: float = 60
) -> dict[str, Any]:
    """Poll the public summary until `condition` holds (a deadline, not a sleep)."""

    def summary() -> dict[str, Any]:
        response = http.get("/api/metrics/summary")
        return response.json() if response.status_code == 200 else {}  # {}: not served yet

    return eventually(
        summary,
        until=lambda s: bool(s) and condition(s),
        timeout=within_s,
        interval=0.5,
        what="the summary meeting the condition",
    )


def route(summary: dict[str, Any], window: str, method: str, path: str) -> dict[str, Any] | None:
    for figures in summary["windows"][window]["routes"]:
        if (figures["method"], figures["route"]) == (method, path):
            return dict(figures)
    return None


def test_requests_and_clicks_show_in_the_summary_by_route(small_site: Site) -> None:
    for _ in range(30):
        assert small_site.http.get("/api/jobs").status_code == 200
    assert small_site.http.get("/api/jobs/no-such-job").status_code == 404
    response = small_site.http.post("/api/clicks", json={"link": "/docs", "page": "/"})
    assert response.status_code == 202, response.text

    def seen(summary: dict[str, Any]) -> bool:
        jobs = route(summary, "60s", "GET", "/api/jobs")
        links = {link["link"]: link["clicks"] for link in summary["windows"]["300s"]["top_links"]}
        return bool(jobs and jobs["requests"] >= 30 and links.get("/docs", 0) >= 1)

    summary = summary_when(small_site.http, seen)
    jobs = route(summary, "60s", "GET", "/api/jobs")
    assert jobs is not None
    assert jobs["latency_ms"]["p50"] is not None
    assert jobs["latency_ms"]["p50"] <= jobs["latency_ms"]["p95"] <= jobs["latency_ms"]["p99"]
    # Routes are grouped by template, never by raw path.
    assert route(summary, "60s", "GET", "/api/jobs/{job_id}") is not None
    assert all("no-such-job" not in r["route"] for r in summary["windows"]["60s"]["routes"])


def test_a_bad_click_is_refused_with_a_reason(small_site: Site) -> None:
    response = small_site.http.post("/api/clicks", json={"link": ""})
    assert response.status_code == 422
    assert "link" in response.text


def test_an_upload_shows_in_job_and_worker_figures(small_site: Site) -> None:
    job_id = small_site.upload_ok()
    job = small_site.wait_for(job_id)
    assert job["status"] == "done"

    # The worker timed the job itself, phase by phase, on metrics.work.
    (timing,) = [t for t in read_topic(small_site.stack, METRICS_WORK) if t.job_id == job_id]
    assert (timing.kind, timing.outcome, timing.task_id) == (WorkKind.IMAGE, WorkOutcome.DONE, None)
    assert timing.worker_id == job["worker_id"]
    assert timing.encode_s > 0
    assert timing.busy_s >= timing.encode_s
    assert timing.bytes_in > 0
    assert timing.bytes_out > 0

    def counted(summary: dict[str, Any]) -> bool:
        window = summary["windows"]["300s"]
        timed: dict[str, int] = {w["worker_id"]: w["units"] for w in window["workers"]}
        return bool(window["uploads"] >= 1 and window["jobs"]["done"] >= 1 and timed.get(timing.worker_id, 0))

    window = summary_when(small_site.http, counted)["windows"]["300s"]
    assert window["encode_s"]["p50"] is not None
    assert window["queue_wait_s"]["p50"] is not None
    assert window["bytes_in"] > 0
    assert window["bytes_out"] > 0
    assert window["workers"][0]["utilisation"] > 0
    # Figures the summary now takes from the workers' timings.
    assert window["timings_from"] == "workers"
    worker = next(w for w in window["workers"] if w["worker_id"] == timing.worker_id)
    assert worker["utilisation"] > 0
    assert worker["encode_bytes_per_s"] > 0
    assert worker["bytes_out"] >= timing.bytes_out
    assert window["work"]["encode_bytes_per_s"] > 0


def test_a_failed_job_is_timed_as_failed(small_site: Site) -> None:
    job_id = small_site.upload_ok(truncated(image_bytes(1200, 900, "PNG")), "broken.png")
    assert small_site.wait_for(job_id)["status"] == "failed"

    (timing,) = [t for t in read_topic(small_site.stack, METRICS_WORK) if t.job_id == job_id]
    assert timing.outcome == WorkOutcome.FAILED
    assert timing.bytes_in > 0
    assert timing.bytes_out == 0

    def counted(summary: dict[str, Any]) -> bool:
        return bool(summary["windows"]["300s"]["work"]["failed"] >= 1)

    summary_when(small_site.http, counted)


def test_each_video_task_is_timed_on_its_own(small_site: Site) -> None:
    response = small_site.upload(video_bytes(seconds=2), "clip.mp4", "application/octet-stream")
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert small_site.wait_for(job_id, timeout=180)["status"] == "done"

    timings = [t for t in read_topic(small_site.stack, METRICS_WORK) if t.job_id == job_id]
    # A 2 s video is one chunk (every rung in one decode), the audio, the previews, and an MP4
    # assembled per rung: each task timed once, under its own id.
    task_ids = [t.task_id for t in timings]
    assert len(set(task_ids)) == len(task_ids)
    assert {"chunk-00000", "audio", "preview"} <= set(task_ids), task_ids
    assert any(str(task_id).startswith("mp4-") for task_id in task_ids), task_ids
    assert [t.kind for t in timings].count(WorkKind.VIDEO_PREVIEW) == 1
    for timing in timings:
        assert timing.outcome == WorkOutcome.DONE
        assert timing.encode_s > 0
        assert timing.bytes_in > 0
        assert timing.bytes_out > 0


def test_every_service_with_http_serves_prometheus_metrics(small_site: Site) -> None:
    config = small_site.stack.config
    for port in (config.frontend_port, config.metrics_port, config.monitoring_port):
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert response.status_code == 200
        assert "# TYPE" in response.text
    metrics = httpx.get(f"http://127.0.0.1:{config.metrics_port}/metrics", timeout=10).text
    assert "reencode_http_latency_ms" in metrics


async def _send_requests(
    producer: EventProducer, latency_ms: float, seconds: float, per_second: int = 40
) -> None:
    """Play a web server that answers `per_second` requests a second, each taking `latency_ms`."""
    for _ in range(int(seconds * 4)):
        for _ in range(per_second // 4):
            event = RequestObserved(
                correlation_id="load",
                service="loadgen",
                instance_id="loadgen-1",
                method="GET",
                route="/synthetic",
                status=200,
                latency_ms=latency_ms,
            )
            await producer.publish(METRICS_REQUESTS, event)
        await asyncio.sleep(0.25)


async def _send_until_alert(
    http: httpx.Client,
    producer: EventProducer,
    key: str,
    latency_ms: float,
    timeout: float,  # noqa: ASYNC109 (eventually's deadline, which reports what it saw)
    raised: bool = True,
) -> None:
    """Send a second of requests at `latency_ms` at a time until alert `key` is raised (or cleared)."""

    async def settled() -> bool:
        if (key in _alerts(http)) == raised:
            return True
        await _send_requests(producer, latency_ms=latency_ms, seconds=1)
        return False

    await eventually_async(
        settled, timeout=timeout, interval=0, what=f"alert {key} {'raised' if raised else 'cleared'}"
    )


def _alerts(http: httpx.Client) -> list[str]:
    response = http.get("/api/metrics/summary")
    return [alert["key"] for alert in response.json()["alerts"]] if response.status_code == 200 else []


def test_a_latency_spike_raises_an_alert_that_clears_by_itself(small_site: Site) -> None:
    http = small_site.http
    key = "metrics.latency_p95"

    async def scenario() -> None:
        async with EventProducer(small_site.stack.config.kafka, client_id="test-loadgen") as producer:
            await _send_requests(producer, latency_ms=10, seconds=12)  # the baseline
            await _send_until_alert(http, producer, key, latency_ms=2000, timeout=60)
            await _send_until_alert(http, producer, key, latency_ms=10, timeout=90, raised=False)

    asyncio.run(scenario())
    states = [alert.state for alert in read_topic(small_site.stack, ALERTS) if alert.key == key]
    assert states[-2:] == [AlertState.RAISED, AlertState.CLEARED]
    raised = next(a for a in read_topic(small_site.stack, ALERTS) if a.key == key)
    assert raised.source == "metrics"


def test_an_alert_raised_before_a_restart_is_cleared_after_it(small_site: Site) -> None:
    stack, http = small_site.stack, small_site.http
    key = "metrics.latency_p95"

    async def spike_until_raised() -> None:
        async with EventProducer(stack.config.kafka, client_id="test-loadgen") as producer:
            await _send_requests(producer, latency_ms=10, seconds=12)
            await _send_until_alert(http, producer, key, latency_ms=2000, timeout=60)

    asyncio.run(spike_until_raised())
    stack.stop_service("metrics")
    process = stack.start_service("metrics", "services.metrics")
    wait_for_port("127.0.0.1", stack.config.metrics_port, timeout=60, process=process)
    # The new instance adopts the raised alert from the topic, then clears it: the spike is over.
    eventually(
        lambda: [alert.state for alert in read_topic(stack, ALERTS, timeout=1) if alert.key == key],
        until=lambda states: states[-1:] == [AlertState.CLEARED],
        timeout=90,
        interval=1,
        what="the alert cleared after the restart",
    )
    assert key not in _alerts(http)


def test_two_metrics_instances_share_partitions_and_serve_the_same_totals(small_site: Site) -> None:
    stack = small_site.stack
    port = free_port()
    second = stack.start_service(
        "metrics-2", "services.metrics", {"METRICS_PORT": str(port), "INSTANCE_ID": "metrics-zz-second"}
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=60, process=second)
        small_site.wait_for_group("metrics", members=2)
        for _ in range(20):
            small_site.http.get("/api/jobs")
        first_url = f"http://127.0.0.1:{stack.config.metrics_port}/api/metrics/summary"
        second_url = f"http://127.0.0.1:{port}/api/metrics/summary"

        def instances_and_totals() -> tuple[list[Any], list[Any], tuple[int, int]]:
            a, b = httpx.get(first_url, timeout=10).json(), httpx.get(second_url, timeout=10).json()
            totals = (a["windows"]["300s"]["requests"], b["windows"]["300s"]["requests"])
            return a["instances"], b["instances"], totals

        eventually(
            instances_and_totals,
            until=lambda seen: len(seen[0]) == len(seen[1]) == 2 and seen[2][0] == seen[2][1] > 0,
            timeout=60,
            interval=0.5,
            what="both instances agreeing on their totals",
        )
    finally:
        stack.stop_service("metrics-2")
    # The survivor takes every partition back and rebuilds its windows from the log.
    small_site.wait_for_group("metrics", members=1)
    summary_when(
        small_site.http,
        lambda s: s["instances"] == [s["instances"][0]] and s["windows"]["300s"]["requests"] > 0,
    )


def test_a_restarted_metrics_service_rebuilds_its_windows_from_the_log(small_site: Site) -> None:
    stack, http = small_site.stack, small_site.http
    for _ in range(15):
        http.get("/api/jobs")

    def jobs_requests(summary: dict[str, Any]) -> int:
        figures = route(summary, "300s", "GET", "/api/jobs")
        return int(figures["requests"]) if figures else 0

    before = jobs_requests(summary_when(http, lambda s: jobs_requests(s) >= 15))
    stack.stop_service("metrics")
    down = http.get("/api/metrics/summary")
    assert down.status_code == 503
    assert "metrics service" in down.json()["detail"]
    process = stack.start_service("metrics", "services.metrics")
    wait_for_port("127.0.0.1", stack.config.metrics_port, timeout=60, process=process)
    summary_when(http, lambda s: jobs_requests(s) >= before)
