"""GET /metrics: this frontend instance's request histogram and telemetry counters for Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.frontend.middleware.telemetry import telemetry_of

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus exposition", include_in_schema=True)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(telemetry_of(request.state).registry), media_type=CONTENT_TYPE_LATEST)
