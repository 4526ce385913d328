"""Heartbeats (restarts included), the log and activity feeds, and what the frontend reports as activity."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from services.frontend.middleware.activity import activity_for
from services.monitoring.activity_feed import ActivityFeed
from services.monitoring.log_feed import LogFeed, LogFilter
from services.monitoring.service_registry import ServiceRegistry
from shared.events import (
    ActivityKind,
    InstanceState,
    LogLevel,
    LogRecord,
    ServiceHeartbeat,
    UserActivity,
    utc_now,
)
from shared.logs import LogBuffer, correlation_scope

JOB = "0123456789abcdef0123456789abcdef"


def beat(
    instance: str,
    seconds_ago: float,
    state: InstanceState = InstanceState.RUNNING,
    started_at: datetime | None = None,
) -> ServiceHeartbeat:
    now = utc_now()
    return ServiceHeartbeat(
        correlation_id="c",
        occurred_at=now - timedelta(seconds=seconds_ago),
        service="reencoder",
        instance_id=instance,
        host="h",
        started_at=started_at or now,
        state=state,
    )


def test_silent_and_stopped_instances_are_down_and_a_service_with_none_is_critical() -> None:
    registry = ServiceRegistry(down_after=timedelta(seconds=10))
    registry.on_heartbeat(beat("w1", 1))
    registry.on_heartbeat(beat("w2", 30))
    assert [f.key for f in registry.findings()] == ["services.down:w2"]
    registry.on_heartbeat(beat("w1", 0, InstanceState.STOPPING))
    keys = [f.key for f in registry.findings()]
    assert keys == ["services.down:w1", "services.down:w2", "services.none:reencoder"]
    registry.on_heartbeat(beat("w1", 0))  # started again
    assert [f.key for f in registry.findings()] == ["services.down:w2"]


def test_instances_long_gone_are_forgotten() -> None:
    registry = ServiceRegistry(down_after=timedelta(seconds=10), forget_after=timedelta(seconds=60))
    registry.on_heartbeat(beat("old", 120))  # replayed history
    assert registry.services() == []


def test_the_same_instance_id_with_a_newer_start_counts_as_a_restart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = ServiceRegistry()
    first_start = utc_now() - timedelta(minutes=5)
    registry.on_heartbeat(beat("w1", 10, started_at=first_start))
    registry.on_heartbeat(beat("w1", 5, started_at=first_start))  # the same process beating again
    assert registry.restarts("w1") == 0

    with caplog.at_level(logging.INFO, logger="services.monitoring.service_registry"):
        # The process died without a farewell; the supervisor started it again under its name.
        second_start = utc_now() - timedelta(seconds=2)
        registry.on_heartbeat(beat("w1", 1, started_at=second_start))
    (instance,) = registry.services()
    assert (instance.restarts, instance.last_restart_at, instance.last_restart_crashed) == (
        1,
        second_start,
        True,
    )
    assert instance.started_at == second_start
    crash = caplog.records[-1]
    assert crash.levelno == logging.WARNING
    assert "w1 restarted after a crash" in crash.getMessage()

    # Stopped on purpose (farewell beat), then started again: a restart too, not a crash.
    registry.on_heartbeat(beat("w1", 0.5, InstanceState.STOPPING, started_at=second_start))
    with caplog.at_level(logging.INFO, logger="services.monitoring.service_registry"):
        registry.on_heartbeat(beat("w1", 0, started_at=utc_now()))
    (instance,) = registry.services()
    assert (instance.restarts, instance.last_restart_crashed) == (2, False)
    assert caplog.records[-1].levelno == logging.INFO
    # A replayed beat of an older process neither counts nor revives it.
    registry.on_heartbeat(beat("w1", 20, started_at=first_start))
    assert registry.restarts("w1") == 2
    assert registry.restarts("never-seen") == 0


def line(service: str, level: LogLevel, message: str, correlation_id: str) -> LogRecord:
    return LogRecord(
        correlation_id=correlation_id,
        service=service,
        instance_id=service,
        level=level,
        logger="x",
        message=message,
    )


def test_log_filters_and_a_trace_in_time_order() -> None:
    feed = LogFeed()
    feed.add(line("frontend", LogLevel.INFO, "job queued", "up1"))
    feed.add(line("reencoder", LogLevel.WARNING, "attempt failed", "up1"))
    feed.add(line("metrics", LogLevel.INFO, "counted", "other"))
    assert [r.service for r in feed.recent(LogFilter(level=LogLevel.WARNING))] == ["reencoder"]
    assert [r.service for r in feed.recent(LogFilter(text="QUEUED"))] == ["frontend"]
    assert [r.service for r in feed.trace("up1")] == ["frontend", "reencoder"]


def test_activity_feed_filters_and_keeps_per_user_timelines() -> None:
    feed = ActivityFeed()
    feed.add(UserActivity(correlation_id="a", kind=ActivityKind.LOGGED_IN, user_id="ann"))
    feed.add(UserActivity(correlation_id="b", kind=ActivityKind.UPLOADED, user_id="ann"))
    feed.add(UserActivity(correlation_id="c", kind=ActivityKind.VIEWED))
    assert [e.kind for e in feed.recent({ActivityKind.UPLOADED, ActivityKind.VIEWED})] == [
        "viewed",
        "uploaded",
    ]
    assert [e.kind for e in feed.timeline("ann")] == ["uploaded", "logged_in"]
    assert feed.timeline("nobody") == []


def test_frontend_reports_uploads_and_views_only_when_they_succeeded() -> None:
    assert activity_for("POST", "/api/uploads", {}, 202) == (ActivityKind.UPLOADED, "upload")
    assert activity_for("POST", "/api/uploads", {}, 415) is None
    job = {"job_id": JOB}
    assert activity_for("GET", "/api/jobs/{job_id}", job, 200) == (ActivityKind.VIEWED, f"job:{JOB}")
    assert activity_for("DELETE", "/api/jobs/{job_id}", job, 204) == (ActivityKind.DELETED, f"job:{JOB}")
    assert activity_for("GET", "/media/{job_id}/{name}", {**job, "name": "thumbnail"}, 200) == (
        ActivityKind.VIEWED,
        f"rendition:{JOB}/thumbnail",
    )
    assert activity_for("GET", "/media/{job_id}/hls/{variant}/{file}", job, 200) is None
    assert activity_for("GET", "/api/jobs", {}, 200) is None


def test_log_buffer_keeps_correlation_skips_kafka_lines_and_never_blocks() -> None:
    buffer = LogBuffer("frontend", "frontend-1", capacity=2)
    logger = logging.getLogger("tests.buffer")
    logger.addHandler(buffer)
    logging.getLogger("aiokafka.conn").addHandler(buffer)
    try:
        with correlation_scope("upload-7"):
            logger.warning("stored %s", "x")
        logging.getLogger("aiokafka.conn").warning("connection lost")
        logger.warning("second")
        logger.warning("third: the buffer is full")
    finally:
        logger.removeHandler(buffer)
        logging.getLogger("aiokafka.conn").removeHandler(buffer)
    first, second = buffer.drain()
    assert (first.message, first.correlation_id, first.uncorrelated) == ("stored x", "upload-7", False)
    assert second.uncorrelated
    assert buffer.dropped == 1
