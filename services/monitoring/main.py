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

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

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
from shared.http_service import consumer_app, serve_app
from shared.kafka import Delivery, EventProducer
from shared.service import ServiceIdentity
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
    async def looking(producer: EventProducer) -> AsyncIterator[None]:
        """The periodic looks at Kafka, the database and storage, and publishing their alerts."""
        tasks = [
            asyncio.create_task(monitor.run(), name="monitor-looks"),
            asyncio.create_task(monitor.publish_alerts(producer), name="monitor-alerts"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await monitor.close()

    app = consumer_app(
        identity,
        [
            (SERVICE_HEARTBEATS, CONSUMER_GROUP, on_heartbeat),
            (DEAD_LETTERS, CONSUMER_GROUP, on_dead_letter),
            (LOGS, CONSUMER_GROUP, on_log),
            (USER_ACTIVITY, CONSUMER_GROUP, on_activity),
            (ALERTS, CONSUMER_GROUP, on_alert),
        ],
        monitor.metrics.registry,
        kafka,
        background=looking,
    )
    app.state.monitor = monitor
    app.include_router(build_router(monitor))
    app.mount("/monitoring/static", StaticFiles(directory=STATIC_DIR), name="monitoring-static")
    return app


def main() -> None:
    settings = MonitoringSettings()
    serve_app("monitoring", create_app(settings), settings)
