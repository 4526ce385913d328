"""The operator's HTTP view: JSON status, logs, traces, activity, alerts, a live stream and the page."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, StreamingResponse

from services.monitoring.log_feed import LogFilter
from services.monitoring.monitor import Monitor
from shared.events import ActivityKind, LogLevel

STATIC_DIR = Path(__file__).parent / "static"
#: A comment line on a quiet stream proves the connection alive through proxies.
KEEPALIVE_S = 15.0


def _dump(events: list[Any]) -> list[dict[str, Any]]:
    return [event.model_dump(mode="json") for event in events]


def build_router(monitor: Monitor) -> APIRouter:
    router = APIRouter(tags=["monitoring"])

    @router.get("/monitoring", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "monitoring.html")

    @router.get(
        "/api/monitoring/status",
        summary="Services, Kafka, database, storage and active alerts, as of the last look",
    )
    async def status() -> dict[str, Any]:
        return monitor.status()

    @router.get("/api/monitoring/stream", summary="Server-sent events: the status after every look")
    async def stream(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            async for snapshot in monitor.updates():
                if await request.is_disconnected():
                    return
                yield f"event: status\ndata: {json.dumps(snapshot, default=str)}\n\n"

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @router.get("/api/monitoring/alerts", summary="Active alerts and the history of raises and clears")
    async def alerts(limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
        return {
            "active": _dump(monitor.alerts.active()),
            "history": _dump(monitor.alerts.history()[:limit]),
        }

    @router.get("/api/monitoring/logs", summary="Recent log lines of every service, newest first")
    async def logs(
        service: str | None = None,
        level: LogLevel = LogLevel.DEBUG,
        correlation_id: str | None = None,
        q: str | None = Query(None, description="text the message or logger contains"),
        limit: int = Query(200, ge=1, le=2000),
    ) -> dict[str, Any]:
        where = LogFilter(service=service, level=level, correlation_id=correlation_id, text=q)
        return {"lines": _dump(monitor.logs.recent(where, limit))}

    @router.get(
        "/api/monitoring/traces/{correlation_id}",
        summary="One correlation id's story across services, in time order",
    )
    async def trace(correlation_id: str) -> dict[str, Any]:
        story = monitor.logs.trace(correlation_id)
        return {
            "correlation_id": correlation_id,
            "services": sorted({line.service for line in story}),
            "lines": _dump(story),
        }

    @router.get("/api/monitoring/activity", summary="Recent user activity, newest first")
    async def activity(
        kind: list[ActivityKind] | None = Query(None),
        user_id: str | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> dict[str, Any]:
        events = monitor.activity.recent(set(kind) if kind else None, user_id, limit)
        return {"events": _dump(events), "counts": {k.value: n for k, n in monitor.activity.counts.items()}}

    @router.get("/api/monitoring/activity/users/{user_id}", summary="One user's recent timeline")
    async def timeline(user_id: str) -> dict[str, Any]:
        return {"user_id": user_id, "events": _dump(monitor.activity.timeline(user_id))}

    return router
