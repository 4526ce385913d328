"""GET /healthz: liveness for load balancers and compose healthchecks."""

from __future__ import annotations

from fastapi import APIRouter

from services.frontend.api.deps import Context
from services.frontend.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is up and serving")
async def healthz(context: Context) -> Health:
    return Health(instance=context.instance_id)
