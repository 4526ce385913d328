"""The operator's HTTP view: JSON status, logs, traces, activity, alerts, a live stream and the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, StreamingResponse

from services.monitoring.log_feed import LogFilter
from services.monitoring.monitor import Monitor
from services.monitoring.views import (
    ActivityView,
    AlertsView,
    LogLines,
    MonitoringStatus,
    Trace,
    UserTimeline,
)
from shared.events import ActivityKind, LogLevel

STATIC_DIR = Path(__file__).parent / "static"
#: A comment line on a quiet stream proves the connection alive through proxies.
KEEPALIVE_S = 15.0


def build_router(monitor: Monitor) -> APIRouter:
    router = APIRouter(tags=["monitoring"])

    @router.get("/monitoring", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "monitoring.html")

    @router.get(
        "/api/monitoring/status",
        response_model=MonitoringStatus,
        summary="Services, Kafka, database, storage and active alerts, as of the last look",
    )
    async def status() -> MonitoringStatus:
        return monitor.status()

    @router.get(
        "/api/monitoring/stream",
        summary="Server-sent events: the status after every look (each `data` is a `MonitoringStatus`)",
    )
    async def stream(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            async for snapshot in monitor.updates():
                if await request.is_disconnected():
                    return
                yield f"event: status\ndata: {snapshot.model_dump_json()}\n\n"

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @router.get(
        "/api/monitoring/alerts",
        response_model=AlertsView,
        summary="Active alerts and the history of raises and clears",
    )
    async def alerts(limit: int = Query(100, ge=1, le=1000)) -> AlertsView:
        return AlertsView(active=monitor.alerts.active(), history=monitor.alerts.history()[:limit])

    @router.get(
        "/api/monitoring/logs",
        response_model=LogLines,
        summary="Recent log lines of every service, newest first",
    )
    async def logs(
        service: str | None = None,
        level: LogLevel = LogLevel.DEBUG,
        correlation_id: str | None = None,
        q: str | None = Query(None, description="text the message or logger contains"),
        limit: int = Query(200, ge=1, le=2000),
    ) -> LogLines:
        where = LogFilter(service=service, level=level, correlation_id=correlation_id, text=q)
        return LogLines(lines=monitor.logs.recent(where, limit))

    @router.get(
        "/api/monitoring/traces/{correlation_id}",
        response_model=Trace,
        summary="One correlation id's story across services, in time order",
    )
    async def trace(correlation_id: str) -> Trace:
        story = monitor.logs.trace(correlation_id)
        return Trace(
            correlation_id=correlation_id, services=sorted({line.service for line in story}), lines=story
        )

    @router.get(
        "/api/monitoring/activity", response_model=ActivityView, summary="Recent user activity, newest first"
    )
    async def activity(
        kind: list[ActivityKind] | None = Query(None),
        user_id: str | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> ActivityView:
        events = monitor.activity.recent(set(kind) if kind else None, user_id, limit)
        return ActivityView(events=events, counts=dict(monitor.activity.counts))

    @router.get(
        "/api/monitoring/activity/users/{user_id}",
        response_model=UserTimeline,
        summary="One user's recent timeline",
    )
    async def timeline(user_id: str) -> UserTimeline:
        return UserTimeline(user_id=user_id, events=monitor.activity.timeline(user_id))

    return router
