"""Metrics service: the design's continuous metrics analysis.

Consumes:  metrics.requests, metrics.clicks   (group "metrics", replayed from 5 min ago on assignment)
           metrics.work                        (group "metrics", likewise: workers' phase timings and bytes)
           jobs.requested, jobs.status         (group "metrics", replayed from the beginning: job state)
           metrics.snapshots                   (no group: every instance reads every peer's snapshot)
Produces:  metrics.snapshots (every 2 s), alerts (raised / cleared), dead-letters, services.heartbeats
HTTP:      GET /api/metrics/summary   rolling windows (10 s, 1 min, 5 min), jobs, alerts
           GET /api/metrics/stream    the same, as server-sent events once a second
           GET /api/metrics/alerts    alerts raised now
           GET /metrics               Prometheus exposition
           GET /healthz
Settings:  KafkaSettings, MetricsSettings (METRICS_*).

Several instances share the partitions of the group; each publishes its share as a snapshot and
serves the merge of every live instance's snapshot (see engine.py and view.py).
"""

from __future__ import annotations

from fastapi import FastAPI

from services.metrics.api import metrics_router
from services.metrics.engine import MetricsEngine
from services.metrics.prometheus import metrics_registry
from services.metrics.stream import STATE_TOPICS, WINDOWED_TOPICS
from shared.events import ALERTS, DEAD_LETTERS, METRICS_SNAPSHOTS, SERVICE_HEARTBEATS
from shared.http_service import ServiceSettings, consumer_app, serve_app
from shared.service import ServiceIdentity
from shared.settings import KafkaSettings


class MetricsSettings(ServiceSettings, env_prefix="METRICS_"):
    port: int = 8001


def create_app(settings: MetricsSettings | None = None, kafka: KafkaSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()
    kafka = kafka or KafkaSettings()
    instance_id = settings.instance_id("metrics")
    engine = MetricsEngine(instance_id, kafka)
    app = consumer_app(
        ServiceIdentity(
            "metrics",
            instance_id,
            consumes=tuple(t.name for t in (*WINDOWED_TOPICS, *STATE_TOPICS, METRICS_SNAPSHOTS)),
            produces=(METRICS_SNAPSHOTS.name, ALERTS.name, DEAD_LETTERS.name, SERVICE_HEARTBEATS.name),
        ),
        consumers=[],
        registry=metrics_registry(engine),
        kafka=kafka,
        background=engine.running,
    )
    app.include_router(metrics_router(engine))
    return app


def main() -> None:
    settings = MetricsSettings()
    serve_app("metrics", create_app(settings), settings)
