"""Debian's Prometheus scrapes every process of the local stack, workers included, with the alert
rules of compose loaded (installed with apt when missing)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from infra.local.processes import free_port
from infra.local.prometheus import PrometheusServer, stack_targets
from tests.eventually import eventually
from tests.system.conftest import Site


def _samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """One /metrics page as {(sample name, labels): value}."""
    text = httpx.get(url, timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_prometheus_scrapes_every_service_and_worker(small_site: Site, tmp_path: Path) -> None:
    targets = stack_targets(small_site.stack)
    assert set(targets) == {"frontend", "metrics", "monitoring", "reencoder", "webhooks", "minio"}
    server = PrometheusServer(tmp_path / "prometheus", free_port(), targets, tmp_path / "prometheus.log")
    server.start()
    try:
        health = server.wait_all_up()
        assert sorted({name.split("/")[0] for name in health}) == sorted(targets)
        for _ in range(10):
            small_site.http.get("/api/jobs")
        # The figures the Grafana dashboards chart are there to query.
        assert server.query("up == 1")
        assert {r["metric"]["job"] for r in server.query("up")} == set(targets)
        # Compose's alert rules, loaded by the same server.
        groups = server.rule_groups()
        assert {"processes", "work", "infrastructure"} <= set(groups)
        assert "ServiceDown" in groups["processes"]
        # Every consumer of the worker, per group.
        waiting = server.query("reencode_consumer_waiting_on_infrastructure")
        assert {r["metric"]["group"] for r in waiting} >= {"reencoder", "reencoder.video-tasks"}
        # MinIO's own metrics, on the path compose's config names.
        assert server.query('minio_cluster_nodes_online_total{job="minio"}')
    finally:
        server.stop()


def test_a_workers_metrics_show_a_finished_job(small_site: Site) -> None:
    stack = small_site.stack
    (port,) = [  # the one worker's (the webhooks service serves its metrics on a port of its own too)
        port
        for name, port in stack.metrics_ports.items()
        if name in stack.services and name.startswith("reencoder")
    ]
    url = f"http://127.0.0.1:{port}/metrics"
    done = ("reencode_work_finished_total", frozenset({("kind", "image"), ("outcome", "done")}))
    before = _samples(url)[done]

    job_id = small_site.upload_ok()
    assert small_site.wait_for(job_id)["status"] == "done"

    samples = eventually(
        lambda: _samples(url), until=lambda s: s[done] >= before + 1, timeout=30, what="the job counted"
    )
    image = frozenset({("kind", "image")})
    assert samples[("reencode_work_bytes_in_total", image)] > 0
    assert samples[("reencode_work_bytes_out_total", image)] > 0
    assert samples[("reencode_queue_wait_seconds_count", image)] >= 1
    ladder = frozenset({("kind", "image"), ("rung", "ladder")})
    assert samples[("reencode_encode_seconds_count", ladder)] >= 1
    assert samples[("reencode_encode_seconds_sum", ladder)] > 0
    assert samples[("reencode_work_in_progress", image)] == 0
    jobs = frozenset({("group", "reencoder"), ("topic", "jobs.requested")})
    assert samples[("reencode_consumer_waiting_on_infrastructure", jobs)] == 0


#: Dashboard series this stack cannot have, by metric name prefix, and why (each is checked elsewhere).
ABSENT_HERE = {
    "kafka_": "the brokers' JMX exporter runs in the cluster tests and make run-full",
    "pg_": "PostgreSQL's exporter runs with PostgreSQL (test_postgres_exporter.py)",
    "reencode_dblogs_": "dblogs ships PostgreSQL's log, which this SQLite stack has not",
    "reencode_work_given_up_total": "counted once work is given up (a fault test's business)",
    "reencode_reports_lost_total": "counted once a report is lost (Kafka away)",
    "reencode_telemetry_dropped_total": "counted once a metric event is dropped (Kafka away)",
    "reencode_consumer_infrastructure_retries_total": "counted once a consumer retries an outage",
    "reencode_ffmpeg_speed": "video encodes only; this test uploads an image",
    "reencode_alerts_raised": "a series exists only while a metrics alert is raised",
}


def dashboard_expressions() -> list[tuple[str, str]]:
    """(dashboard file: panel title, PromQL) of every target of every provisioned dashboard."""
    folder = Path(__file__).resolve().parents[2] / "infra" / "grafana" / "dashboards"
    return [
        (f"{path.name}: {panel['title']}", target["expr"])
        for path in sorted(folder.glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
        for target in panel.get("targets", [])
    ]


def test_every_dashboard_query_runs_and_the_stacks_own_return_series(
    small_site: Site, tmp_path: Path
) -> None:
    targets = stack_targets(small_site.stack)
    server = PrometheusServer(tmp_path / "prometheus", free_port(), targets, tmp_path / "prometheus.log")
    server.start()
    try:
        server.wait_all_up()
        assert small_site.wait_for(small_site.upload_ok())["status"] == "done"
        beacon = {"job_id": "dashboards", "session_id": "s", "first": True, "startup_ms": 300, "watched_s": 5}
        assert small_site.http.post("/api/playback", json=beacon).status_code == 202
        expressions = dashboard_expressions()
        assert len(expressions) >= 30
        # Each parses and runs (a bad expression is a 400 from the query API).
        results = {where: server.query(expression) for where, expression in expressions}

        def missing() -> list[str]:
            nonlocal results
            expected = [
                (where, expression)
                for where, expression in expressions
                if not any(prefix in expression for prefix in ABSENT_HERE)
            ]
            results |= {
                where: server.query(expression) for where, expression in expected if not results[where]
            }
            return [f"{where}: {expression}" for where, expression in expected if not results[where]]

        # Rates need two scrapes after the job; the figures one metrics tick.
        eventually(
            missing, until=lambda empty: not empty, timeout=60, what="every dashboard query with series"
        )
    finally:
        server.stop()
