"""Monitoring service: the design's activity and system monitoring, the operator's single view.

Consumes:  services.heartbeats  (group "monitoring")  which instances are up
           dead-letters         (group "monitoring")  what consumers gave up on
           logs                 (group "monitoring")  every service's log lines
           users.activity       (group "monitoring")  what users do
           alerts               (group "monitoring")  other services' alerts (metrics), for one view
Examines:  Kafka (admin API: brokers, partitions, ISR, group lag), the database (statistics
           views), object storage (MinIO health, buckets), every `poll_interval_s`
Produces:  alerts (raised and cleared), dead-letters, services.heartbeats, logs
HTTP:      GET /monitoring                  the live page (also through the frontend's address)
           GET /api/monitoring/status       services, kafka, database, storage, alerts
           GET /api/monitoring/stream       the status as server-sent events after every look
           GET /api/monitoring/alerts, /logs, /traces/{correlation_id}, /activity,
               /activity/users/{user_id}
           GET /metrics, /healthz
Settings:  KafkaSettings, DatabaseSettings, StorageSettings, MonitoringSettings (MONITORING_*).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.monitoring.api import STATIC_DIR, build_router
from services.monitoring.monitor import Monitor
from services.monitoring.settings import MonitoringSettings
from shared.events import (
    ALERTS,
    DEAD_LETTERS,
    LOGS,
    SERVICE_HEARTBEATS,
    USER_ACTIVITY,
    Alert,
    DeadLetter,
    LogRecord,
    ServiceHeartbeat,
    UserActivity,
)
from shared.kafka import Delivery, EventConsumer, EventProducer
from shared.logs import configure_logging
from shared.service import ServiceIdentity, consumers_running
from shared.settings import DatabaseSettings, KafkaSettings, StorageSettings

CONSUMER_GROUP = "monitoring"


def create_app(
    settings: MonitoringSettings | None = None,
    kafka: KafkaSettings | None = None,
    database: DatabaseSettings | None = None,
    storage: StorageSettings | None = None,
) -> FastAPI:
    settings = settings or MonitoringSettings()
    kafka = kafka or KafkaSettings()
    identity = ServiceIdentity(
        "monitoring",
        settings.instance_id("monitoring"),
        consumes=(SERVICE_HEARTBEATS.name, DEAD_LETTERS.name, LOGS.name, USER_ACTIVITY.name, ALERTS.name),
        produces=(ALERTS.name, DEAD_LETTERS.name, SERVICE_HEARTBEATS.name, LOGS.name),
    )
    monitor = Monitor(
        settings, kafka, database or DatabaseSettings(), storage or StorageSettings(), identity.instance_id
    )

    async def on_heartbeat(beat: ServiceHeartbeat, _delivery: Delivery) -> None:
        monitor.registry.on_heartbeat(beat)

    async def on_dead_letter(letter: DeadLetter, _delivery: Delivery) -> None:
        monitor.registry.on_dead_letter(letter)

    async def on_log(line: LogRecord, _delivery: Delivery) -> None:
        monitor.logs.add(line)

    async def on_activity(event: UserActivity, _delivery: Delivery) -> None:
        monitor.activity.add(event)

    async def on_alert(alert: Alert, _delivery: Delivery) -> None:
        monitor.on_alert(alert)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with EventProducer(kafka, client_id=identity.instance_id) as producer:
            consumers = [
                EventConsumer(
                    topic,
                    group_id=CONSUMER_GROUP,
                    handler=handler,
                    settings=kafka,
                    producer=producer,
                    client_id=identity.instance_id,
                )
                for topic, handler in (
                    (SERVICE_HEARTBEATS, on_heartbeat),
                    (DEAD_LETTERS, on_dead_letter),
                    (LOGS, on_log),
                    (USER_ACTIVITY, on_activity),
                    (ALERTS, on_alert),
                )
            ]
            tasks = [
                asyncio.create_task(monitor.run(), name="monitor-looks"),
                asyncio.create_task(monitor.publish_alerts(producer), name="monitor-alerts"),
            ]
            try:
                async with consumers_running(producer, identity, consumers):
                    yield
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await monitor.close()

    app = FastAPI(title="reencode monitoring", lifespan=lifespan)
    app.state.monitor = monitor

    @app.get("/healthz", tags=["health"], summary="The process is up and serving")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": identity.service, "instance": identity.instance_id}

    @app.get("/metrics", tags=["health"], summary="Prometheus exposition")
    async def metrics() -> Response:
        return Response(generate_latest(monitor.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(build_router(monitor))
    app.mount("/monitoring/static", StaticFiles(directory=STATIC_DIR), name="monitoring-static")
    return app


def main() -> None:
    settings = MonitoringSettings()
    configure_logging("monitoring")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=30,
    )
