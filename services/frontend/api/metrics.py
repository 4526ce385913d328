"""/api/metrics/*: the metrics service's figures at the site's address (summary, live stream, alerts).

The frontend computes nothing here: it passes GETs through to the metrics service, found at
METRICS_URL, else 127.0.0.1 on METRICS_PORT (what the local stack sets). The dashboard page
(`/dashboard`) reads these routes.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic_settings import SettingsConfigDict

from services.frontend.api.deps import Context
from services.frontend.api.proxy import BackendAddress, forward_get

router = APIRouter(prefix="/api/metrics", tags=["metrics"])


class MetricsAddress(BackendAddress):
    """Where the metrics service listens."""

    model_config = SettingsConfigDict(env_prefix="METRICS_")

    port: int = 8001


async def _forward(context: Context, path: str) -> StreamingResponse:
    return await forward_get(context.backends.metrics_url, path, "metrics")


@router.get("/summary", summary="Site-wide figures over the last 10 s, 1 min and 5 min, and alerts")
async def summary(context: Context) -> StreamingResponse:
    return await _forward(context, "/api/metrics/summary")


@router.get("/alerts", summary="Alerts the metrics rules hold raised now")
async def alerts(context: Context) -> StreamingResponse:
    return await _forward(context, "/api/metrics/alerts")


@router.get("/stream", summary="The summary as server-sent events, once a second")
async def stream(context: Context) -> StreamingResponse:
    return await _forward(context, "/api/metrics/stream")
