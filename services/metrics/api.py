"""The metrics service's HTTP API: the summary as JSON, and the same summary as a live stream."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from services.metrics.engine import MetricsEngine

#: The stream sends a fresh summary at least this often, even when nothing changed (keeps proxies open).
STREAM_INTERVAL_S = 1.0
#: A stream ends after this long and the browser's EventSource reconnects (after `retry` ms). Why: a
#: server shutting down waits for open responses, and a stream that never ends would hold it until
#: it is killed; this keeps every shutdown graceful, at the price of one reconnect per 15 s.
STREAM_MAX_S = 15.0


def metrics_router(engine: MetricsEngine) -> APIRouter:
    router = APIRouter(prefix="/api/metrics", tags=["metrics"])

    @router.get("/summary", summary="Site-wide figures over the last 10 s, 1 min and 5 min, and alerts")
    async def summary() -> dict[str, Any]:
        return engine.summary

    @router.get("/alerts", summary="Alerts the metrics rules hold raised now")
    async def alerts() -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = engine.summary["alerts"]
        return active

    @router.get(
        "/stream",
        summary="The summary as server-sent events, one per tick",
        response_class=StreamingResponse,
    )
    async def stream(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            ends_at = time.monotonic() + STREAM_MAX_S
            yield f"retry: 1000\nevent: summary\ndata: {json.dumps(engine.summary)}\n\n"
            while time.monotonic() < ends_at and not await request.is_disconnected():
                await engine.wait_for_update(STREAM_INTERVAL_S)
                yield f"event: summary\ndata: {json.dumps(engine.summary)}\n\n"

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return router
