"""What the monitoring API answers: the status of every part of the system, alerts, logs, activity.

The parts come from their watchers (`ServiceInstance`, `KafkaStatus`, `DatabaseView`,
`StorageView`); this module puts them together and names each route's answer, so `/docs` shows it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from services.monitoring.database_stats import DatabaseView
from services.monitoring.kafka_cluster import KafkaStatus
from services.monitoring.scaling_advisor import ScalingAdvice
from services.monitoring.service_registry import ServiceInstance
from services.monitoring.storage_stats import StorageView
from shared.events import ActivityKind, Alert, DeadLetter, LogRecord, UserActivity


class NotExamined(BaseModel):
    """A part of the system before its first look."""

    reachable: None = None
    note: str = "not examined yet"


class MonitoringStatus(BaseModel):
    """`GET /api/monitoring/status`, and each event of its live stream."""

    #: When the last look at Kafka, the database and storage ended (None before the first).
    looked_at: datetime | None
    services: list[ServiceInstance]
    kafka: KafkaStatus | NotExamined
    database: DatabaseView | NotExamined
    storage: StorageView | NotExamined
    #: Raised and not cleared, critical first, then oldest first.
    alerts: list[Alert]
    #: The newest messages consumers gave up on.
    dead_letters: list[DeadLetter]
    #: Per work queue: backlog, rates, and the workers that would clear it (scaling_advisor.py).
    scaling: list[ScalingAdvice] = []


class AlertsView(BaseModel):
    active: list[Alert]
    #: Every raise and clear, newest first.
    history: list[Alert]


class LogLines(BaseModel):
    #: Newest first.
    lines: list[LogRecord]


class Trace(BaseModel):
    """One correlation id's story across services."""

    correlation_id: str
    services: list[str]
    #: In time order.
    lines: list[LogRecord]


class ActivityView(BaseModel):
    #: Newest first.
    events: list[UserActivity]
    #: Events received per kind since monitoring started.
    counts: dict[ActivityKind, int]


class UserTimeline(BaseModel):
    user_id: str
    #: Newest first.
    events: list[UserActivity]
