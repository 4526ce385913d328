"""GET /healthz: liveness for load balancers and compose healthchecks."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.frontend.context import FrontendContext, get_context

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up and serving")
async def healthz(context: FrontendContext = Depends(get_context)) -> dict[str, str]:
    return {"status": "ok", "service": "frontend", "instance": context.instance_id}
