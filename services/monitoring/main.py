"""Monitoring service: the design's activity and system monitoring, the operator's single view.

Consumes:  (see MONITORING below) which instances are up (heartbeats), what consumers gave up on,
           every service's log lines, what users do, other services' alerts, and video progress
           (a worker reporting progress holds its partitions busy, not stuck), for one view
Examines:  Kafka (admin API: brokers, partitions, ISR, group lag), the database (statistics
           views), object storage (MinIO health, buckets), every `poll_interval_s`
Produces:  alerts (raised and cleared)
HTTP:      GET /monitoring                  the live page (also through the frontend's address)
           GET /api/monitoring/status       services, kafka, database, storage, alerts
           GET /api/monitoring/stream       the status as server-sent events after every look
           GET /api/monitoring/alerts, /logs, /traces/{correlation_id}, /activity,
               /activity/users/{user_id}
           GET /metrics, /healthz
Settings:  MonitoringConfig: Kafka, database, storage, MONITORING_*.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import partial

from fastapi.staticfiles import StaticFiles
from pydantic import Field

from services.monitoring.api import STATIC_DIR, build_router
from services.monitoring.monitor import Monitor
from services.monitoring.settings import MonitoringSettings
from services.monitoring.storage_audit import audit_line
from shared.events import (
    ALERTS,
    DEAD_LETTERS,
    LOGS,
    SERVICE_HEARTBEATS,
    STORAGE_AUDIT,
    USER_ACTIVITY,
    VIDEO_PROGRESS,
    Alert,
    DeadLetter,
    LogRecord,
    ServiceHeartbeat,
    StorageAuditEntry,
    UserActivity,
    VideoTaskProgress,
)
from shared.frame import Consumes, Runtime, ServiceConfig, ServiceDeclaration, Wiring, run_service
from shared.kafka import Delivery
from shared.settings import DatabaseSettings, StorageSettings

GROUP = "monitoring"
#: Monitoring's consumers feed in-memory views (the registry, the log and activity feeds): a record
#: a crash redelivers costs nothing, so their offsets are committed at most once a second, not one
#: request per record (issue #18: ~20 records per image job). All seven are one consumer (one
#: group): the frame gives a group one member.
VIEW_COMMITS_S = 1.0
HEARTBEATS = Consumes(SERVICE_HEARTBEATS, GROUP, commit_every_s=VIEW_COMMITS_S)
LETTERS = Consumes(DEAD_LETTERS, GROUP, commit_every_s=VIEW_COMMITS_S)
LOG_LINES = Consumes(LOGS, GROUP, commit_every_s=VIEW_COMMITS_S)
ACTIVITY = Consumes(USER_ACTIVITY, GROUP, commit_every_s=VIEW_COMMITS_S)
OTHERS_ALERTS = Consumes(ALERTS, GROUP, commit_every_s=VIEW_COMMITS_S)
#: Long video tasks commit only when they end: their progress tells busy from stuck (lag.py).
PROGRESS = Consumes(VIDEO_PROGRESS, GROUP, commit_every_s=VIEW_COMMITS_S)
#: MinIO's audit log: every storage API call, shown among the log lines (storage_audit.py).
STORAGE_CALLS = Consumes(STORAGE_AUDIT, GROUP, commit_every_s=VIEW_COMMITS_S)

MONITORING = ServiceDeclaration(
    name="monitoring",
    summary="The operator's single view: services, Kafka, the database, storage, logs and activity.",
    consumes=(HEARTBEATS, LETTERS, LOG_LINES, ACTIVITY, OTHERS_ALERTS, PROGRESS, STORAGE_CALLS),
    produces=(ALERTS,),
    http=True,
)


class MonitoringConfig(ServiceConfig):
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)

    def http(self) -> MonitoringSettings:
        return self.monitoring


@contextlib.asynccontextmanager
async def setup(config: MonitoringConfig, runtime: Runtime) -> AsyncIterator[Wiring]:
    monitor = Monitor(
        config.monitoring, config.kafka, config.database, config.storage, runtime.identity.instance_id
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

    async def on_progress(progress: VideoTaskProgress, _delivery: Delivery) -> None:
        monitor.on_progress(progress)

    async def on_storage_call(entry: StorageAuditEntry, _delivery: Delivery) -> None:
        monitor.logs.add(audit_line(entry))

    app = runtime.app
    assert app is not None
    app.state.monitor = monitor
    app.include_router(build_router(monitor))
    app.mount("/monitoring/static", StaticFiles(directory=STATIC_DIR), name="monitoring-static")
    try:
        yield Wiring(
            bindings=[
                HEARTBEATS.handled_by(on_heartbeat),
                LETTERS.handled_by(on_dead_letter),
                LOG_LINES.handled_by(on_log),
                ACTIVITY.handled_by(on_activity),
                OTHERS_ALERTS.handled_by(on_alert),
                PROGRESS.handled_by(on_progress),
                STORAGE_CALLS.handled_by(on_storage_call),
            ],
            # The periodic looks at Kafka, the database and storage, and publishing their alerts.
            tasks={
                "monitor-looks": monitor.run,
                "monitor-alerts": partial(monitor.publish_alerts, runtime.producer),
            },
            registry=monitor.metrics.registry,
        )
    finally:
        await monitor.close()


def main() -> None:
    config = MonitoringConfig()
    run_service(MONITORING, config, partial(setup, config))
