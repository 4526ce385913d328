"""The metrics service's HTTP API: the summary as JSON, and the same summary as a live stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from services.metrics.engine import MetricsEngine
from services.metrics.summary import ActiveAlert, MetricsSummary

#: The stream sends a fresh summary at least this often, even when nothing changed (keeps proxies open).
STREAM_INTERVAL_S = 1.0
#: A stream ends after this long and the browser's EventSource reconnects (after `retry` ms). Why: a
#: server shutting down waits for open responses, and a stream that never ends would hold it until
#: it is killed; this keeps every shutdown graceful, at the price of one reconnect per 15 s.
STREAM_MAX_S = 15.0


def metrics_router(engine: MetricsEngine) -> APIRouter:
    router = APIRouter(prefix="/api/metrics", tags=["metrics"])

    @router.get(
        "/summary",
        response_model=MetricsSummary,
        summary="Site-wide figures over the last 10 s, 1 min and 5 min, and alerts",
    )
    async def summary() -> MetricsSummary:
        return engine.summary

    @router.get(
        "/alerts", response_model=list[ActiveAlert], summary="Alerts the metrics rules hold raised now"
    )
    async def alerts() -> list[ActiveAlert]:
        return engine.summary.alerts

    @router.get(
        "/stream",
        summary="The summary as server-sent events, one per tick (each `data` is a `MetricsSummary`)",
        response_class=StreamingResponse,
    )
    async def stream(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            ends_at = time.monotonic() + STREAM_MAX_S
            yield f"retry: 1000\nevent: summary\ndata: {engine.summary.model_dump_json()}\n\n"
            while time.monotonic() < ends_at and not await request.is_disconnected():
                await engine.wait_for_update(STREAM_INTERVAL_S)
                yield f"event: summary\ndata: {engine.summary.model_dump_json()}\n\n"

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return router
