"""Metrics service: the design's continuous metrics analysis.

Consumes:  jobs.status          (group "metrics", from the earliest offset: rebuilds its view on start)
Produces:  dead-letters, services.heartbeats
HTTP:      GET /api/metrics/summary   jobs by state
           GET /metrics               Prometheus exposition
           GET /healthz
Settings:  KafkaSettings, MetricsSettings (METRICS_*).
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from services.metrics.job_figures import JobFigures
from shared.events import DEAD_LETTERS, JOBS_STATUS, SERVICE_HEARTBEATS, JobStatusChanged
from shared.http_service import ServiceSettings, consumer_app, serve_app
from shared.kafka import Delivery
from shared.service import ServiceIdentity


class MetricsSettings(ServiceSettings, env_prefix="METRICS_"):
    port: int = 8001


def create_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()
    figures = JobFigures()

    async def record(event: JobStatusChanged, _delivery: Delivery) -> None:
        figures.observe(event)

    app = consumer_app(
        ServiceIdentity(
            "metrics",
            settings.instance_id("metrics"),
            consumes=(JOBS_STATUS.name,),
            produces=(DEAD_LETTERS.name, SERVICE_HEARTBEATS.name),
        ),
        consumers=[(JOBS_STATUS, "metrics", record)],
        registry=figures.registry,
    )

    @app.get("/api/metrics/summary", summary="Jobs by state since the topic began")
    async def summary() -> dict[str, dict[str, int]]:
        await asyncio.sleep(0)
        return {"jobs": figures.summary()}

    return app


def main() -> None:
    settings = MetricsSettings()
    serve_app("metrics", create_app(settings), settings)
