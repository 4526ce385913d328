"""GET /dashboard: the live metrics dashboard page (static/dashboard.html, charts drawn with uPlot)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

PAGE = Path(__file__).resolve().parent.parent / "static" / "dashboard.html"

router = APIRouter(tags=["metrics"])


@router.get("/dashboard", summary="Live dashboard: traffic, latency, errors, jobs, workers, alerts")
async def dashboard() -> FileResponse:
    return FileResponse(PAGE, media_type="text/html")
