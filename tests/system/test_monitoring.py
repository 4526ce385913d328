"""The monitoring service as the operator's single view, and the faults it must show.

One site on a three-node Kafka cluster with a private PostgreSQL, started once for the module:
each fault (a worker stopped, a consumer group stuck, the database stopped, storage stopped, a
broker stopped so partitions are under-replicated) is caused, must show up as an alert, and must
clear once fixed, while monitoring keeps running. Monitoring runs with short windows here
(MONITORING_* settings); nothing is timed, conditions are awaited with generous deadlines.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.postgres import PostgresServer
from infra.local.processes import free_port
from infra.local.stack import LocalStack, StackConfig
from shared.events import ALERTS, USER_ACTIVITY, ActivityKind, AlertState, UserActivity, new_id
from shared.kafka import EventProducer
from shared.kafka.clients import kafka_consumer
from tests.api_client import sign_up
from tests.conftest import CACHE_DIR
from tests.eventually import eventually
from tests.media_samples import image_bytes
from tests.system.conftest import grant_operator, read_topic

#: Deadline for a fault to show or clear: several monitoring looks plus Kafka's own timeouts.
WITHIN_S = 90.0

MONITORING_ENV = {
    "KAFKA_SESSION_TIMEOUT_MS": "6000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
    "TELEMETRY_HEARTBEAT_INTERVAL_S": "1",
    "MONITORING_POLL_INTERVAL_S": "1",
    "MONITORING_DOWN_AFTER_S": "4",
    "MONITORING_LAG_WINDOW_S": "5",
    "MONITORING_PROBE_TIMEOUT_S": "5",
}


@dataclass
class Watched:
    stack: LocalStack
    postgres: PostgresServer
    site: httpx.Client
    monitoring: httpx.Client

    def status(self) -> dict[str, Any]:
        # From the monitoring service itself: the site's address needs the database to sign the
        # operator in, and one of the faults below is the database stopped.
        response = self.monitoring.get("/api/monitoring/status")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def alert_keys(self) -> set[str]:
        return {alert["key"] for alert in self.status()["alerts"]}

    def wait_until(self, what: str, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return eventually(self.status, until=condition, timeout=WITHIN_S, interval=0.5, what=what)

    def wait_for_alert(self, key: str) -> dict[str, Any]:
        status = self.wait_until(f"alert {key}", lambda s: key in {a["key"] for a in s["alerts"]})
        return next(alert for alert in status["alerts"] if alert["key"] == key)

    def wait_for_clear(self, key: str) -> None:
        self.wait_until(f"alert {key} cleared", lambda s: key not in {a["key"] for a in s["alerts"]})

    def assert_monitoring_alive(self) -> None:
        assert self.stack.services["monitoring"].is_running
        assert self.monitoring.get("/healthz").status_code == 200


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    root = tmp_path_factory.mktemp("monitoring")
    # Outside pytest's folder: a concurrent pytest run may make that untraversable again (0700)
    # for the `postgres` user, and this server is restarted after its first start.
    postgres_dir = Path(tempfile.mkdtemp(prefix="reencode-monitoring-pg-"))
    postgres = PostgresServer(postgres_dir / "data", port=free_port(), fast=True)
    postgres.start()
    postgres.wait_ready()
    config = StackConfig.on_free_ports(root / "stack", CACHE_DIR, kafka_nodes=3)
    config.service_env = dict(MONITORING_ENV)
    postgres.create_database("site")
    config.database_url = postgres.url("site")
    stack = LocalStack(config)
    try:
        stack.start_infrastructure()
        stack.start_services(reencoders=1)
        site = httpx.Client(base_url=config.frontend_url, timeout=30)
        # Monitoring at the site's address is for operators, a role granted by the CLI.
        grant_operator(stack, sign_up_named(site))
        monitoring = httpx.Client(base_url=f"http://127.0.0.1:{config.monitoring_port}", timeout=30)
        watched = Watched(stack, postgres, site, monitoring)
        watched.wait_until(
            "every service up and every component examined",
            lambda s: (
                {"frontend", "metrics", "monitoring", "reencoder"}
                <= {entry["service"] for entry in s["services"] if entry["up"]}
                and all(s[part].get("reachable") for part in ("kafka", "database", "storage"))
            ),
        )
        yield watched
        site.close()
        monitoring.close()
    finally:
        stack.stop()
        postgres.stop()
        shutil.rmtree(postgres_dir, ignore_errors=True)


def sign_up_named(site: httpx.Client) -> str:
    username = f"operator-{new_id()[:10]}"
    sign_up(site, username)
    return username


def test_status_shows_services_kafka_database_and_storage(watched: Watched) -> None:
    status = watched.status()
    assert {"services", "kafka", "database", "storage", "alerts"} <= set(status)
    worker = next(s for s in status["services"] if s["instance_id"] == "reencoder-1")
    assert "jobs.requested" in worker["consumes"]
    assert worker["version"] != "unknown"
    assert worker["load"]["memory_rss_bytes"] > 0
    kafka = status["kafka"]
    assert sorted(broker["node_id"] for broker in kafka["brokers"]) == [0, 1, 2]
    assert kafka["controller_id"] in (0, 1, 2)
    jobs = next(topic for topic in kafka["topics"] if topic["name"] == "jobs.requested")
    assert len(jobs["partitions"]) == 6
    assert all(len(p["isr"]) == 3 for p in jobs["partitions"])
    # The view is as of the last look, which may have come just before the site's migration.
    database = watched.wait_until(
        "the site's tables in the database view",
        lambda s: {"jobs", "renditions"} <= {table["table"] for table in s["database"].get("tables", [])},
    )["database"]
    assert database["backend"] == "postgresql"
    assert not database["reduced"]
    assert database["connections"]["total"] >= 1
    assert database["replication"]["role"] == "primary"
    assert {bucket["name"] for bucket in status["storage"]["buckets"]} >= {"uploads", "renditions"}
    assert status["storage"]["live"] is True


def test_page_and_prometheus_metrics(watched: Watched) -> None:
    page = watched.site.get("/monitoring")
    assert page.status_code == 200
    assert "reencode monitoring" in page.text
    assert watched.site.get("/monitoring/static/monitoring.js").status_code == 200
    # The page's live stream, through the frontend: the first event is the whole status.
    with watched.site.stream("GET", "/api/monitoring/stream") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "event: status"
        assert '"kafka"' in next(lines)
    metrics = watched.monitoring.get("/metrics").text
    assert "reencode_kafka_brokers 3.0" in metrics
    assert 'reencode_component_up{component="database"} 1.0' in metrics


def test_one_upload_is_traced_across_services_and_shows_as_activity(watched: Watched) -> None:
    username = f"traced-{new_id()[:10]}"
    user_id = sign_up(watched.site, username)
    grant_operator(watched.stack, username)
    response = watched.site.post("/api/uploads", files={"file": ("photo.jpg", image_bytes(), "image/jpeg")})
    assert response.status_code == 202, response.text
    correlation_id = response.headers["X-Correlation-ID"]
    job_id = response.json()["job_id"]
    assert watched.site.get(f"/api/jobs/{job_id}").status_code == 200

    trace = eventually(
        lambda: watched.site.get(f"/api/monitoring/traces/{correlation_id}").json(),
        until=lambda trace: (
            {"frontend", "reencoder"} <= set(trace["services"])
            and any("done" in line["message"] for line in trace["lines"])
        ),
        timeout=WITHIN_S,
        interval=0.5,
        what="the trace from frontend to reencoder's done",
    )
    times = [line["occurred_at"] for line in trace["lines"]]
    assert times == sorted(times)
    # Cause before effect: the frontend's lines come before any worker's. MinIO's audit lines of the
    # frontend's own storage calls (storing the original) may come first, once their batch arrives.
    services = [line["service"] for line in trace["lines"] if line["service"] != "minio"]
    assert services[0] == "frontend"

    activity = watched.site.get("/api/monitoring/activity", params={"kind": "uploaded"}).json()["events"]
    assert any(event["correlation_id"] == correlation_id for event in activity)
    views = watched.site.get("/api/monitoring/activity", params={"kind": "viewed"}).json()["events"]
    assert any(event["subject"] == f"job:{job_id}" for event in views)
    timeline = watched.site.get(f"/api/monitoring/activity/users/{user_id}").json()["events"]
    assert {"registered", "uploaded", "viewed"} <= {event["kind"] for event in timeline}
    logs = watched.site.get(
        "/api/monitoring/logs", params={"service": "reencoder", "correlation_id": correlation_id}
    ).json()["lines"]
    assert logs
    assert all(line["service"] == "reencoder" for line in logs)


def test_a_stopped_worker_raises_an_alert_that_clears_when_it_restarts(watched: Watched) -> None:
    watched.stack.stop_service("reencoder-1")
    alert = watched.wait_for_alert("services.down:reencoder-1")
    assert "reencoder-1" in alert["message"]
    assert "services.none:reencoder" in watched.alert_keys()
    watched.assert_monitoring_alive()

    watched.stack.start_reencoder("reencoder-1")
    watched.wait_for_clear("services.down:reencoder-1")
    watched.wait_for_clear("services.none:reencoder")

    # A crash sends no farewell: the silence alone raises the alert.
    watched.stack.services["reencoder-1"].kill()
    alert = watched.wait_for_alert("services.down:reencoder-1")
    assert "silent" in alert["message"]
    watched.stack.start_reencoder("reencoder-1")
    watched.wait_for_clear("services.down:reencoder-1")

    # Every change went to the alerts topic, with its timestamps.
    changes = [a for a in read_topic(watched.stack, ALERTS) if a.key == "services.down:reencoder-1"]
    assert [a.state for a in changes][-4:] == [AlertState.RAISED, AlertState.CLEARED] * 2
    assert changes[-1].cleared_at is not None
    assert changes[-1].cleared_at >= changes[-1].raised_at


async def test_a_group_that_stops_committing_is_stuck_and_clears_when_it_catches_up(
    watched: Watched,
) -> None:
    group = f"stuck-{new_id()[:8]}"
    key = f"kafka.group_stuck:{group}/{USER_ACTIVITY.name}"
    # It stays in its group without polling while the alert is awaited (up to WITHIN_S).
    stuck = kafka_consumer(
        watched.stack.config.kafka, USER_ACTIVITY.name, group_id=group, max_poll_interval_ms=300_000
    )
    await stuck.start()
    try:
        await stuck.getmany(timeout_ms=2000)  # joins the group, takes records, commits nothing
        async with EventProducer(watched.stack.config.kafka, client_id="test-stuck") as producer:
            for _ in range(5):
                await producer.publish(
                    USER_ACTIVITY, UserActivity(correlation_id=new_id(), kind=ActivityKind.CLICKED)
                )
        alert = await asyncio.to_thread(watched.wait_for_alert, key)
        assert group in alert["message"]
        watched.assert_monitoring_alive()

        # The consumer works again: it reads to the end and commits.
        while await stuck.getmany(timeout_ms=1000):
            pass
        await stuck.commit()
        await asyncio.to_thread(watched.wait_for_clear, key)
    finally:
        await stuck.stop()


def test_a_stopped_storage_raises_an_alert_that_clears_when_it_is_back(watched: Watched) -> None:
    minio = watched.stack.minio
    assert minio is not None
    minio.stop()
    try:
        alert = watched.wait_for_alert("storage.unreachable")
        assert alert["severity"] == "critical"
        assert watched.status()["storage"]["recent_errors"]
        watched.assert_monitoring_alive()
    finally:
        minio.start()
        minio.wait_ready()
    watched.wait_for_clear("storage.unreachable")
    assert watched.status()["storage"]["live"] is True


def test_a_stopped_database_raises_an_alert_that_clears_when_it_is_back(watched: Watched) -> None:
    watched.postgres.stop()
    try:
        alert = watched.wait_for_alert("database.unreachable")
        assert "postgresql" in alert["message"]
        assert watched.status()["database"]["reachable"] is False
        watched.assert_monitoring_alive()
        # The site says so in words instead of failing with a stack trace.
        jobs = watched.site.get("/api/jobs")
        assert jobs.status_code == 503
        assert "database is unavailable" in jobs.json()["detail"]
    finally:
        watched.postgres.start()
        watched.postgres.wait_ready()
    watched.wait_for_clear("database.unreachable")


def test_a_stopped_broker_shows_under_replicated_partitions_until_it_rejoins(watched: Watched) -> None:
    kafka = watched.stack.kafka
    assert kafka is not None
    kafka.stop_node(2)
    try:
        watched.wait_for_alert("kafka.broker_down:2")
        status = watched.wait_until(
            "under-replicated partitions",
            lambda s: any(
                k.startswith("kafka.under_replicated:jobs.") for k in {a["key"] for a in s["alerts"]}
            ),
        )
        assert status["kafka"]["under_replicated_partitions"] > 0
        watched.assert_monitoring_alive()
    finally:
        kafka.start_node(2)
        kafka.wait_ready()
    watched.wait_until(
        "every partition fully replicated again",
        lambda s: (
            not any(a["key"].startswith(("kafka.under_replicated", "kafka.broker_down")) for a in s["alerts"])
        ),
    )
    watched.assert_monitoring_alive()


def test_the_frontend_answers_503_when_monitoring_is_down(watched: Watched) -> None:
    watched.stack.stop_service("monitoring")
    response = watched.site.get("/api/monitoring/status")
    assert response.status_code == 503
    assert "monitoring" in response.json()["detail"]
