"""/monitoring and /api/monitoring/*: the monitoring service's page and API at the site's address.

A read-only pass-through (see `proxy.forward_get`): the page's live server-sent events flow
through, and when monitoring is down the answer is a readable 503.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic_settings import SettingsConfigDict

from services.frontend.accounts.dependencies import OPERATORS_ONLY, current_operator
from services.frontend.api.deps import PageCaller
from services.frontend.api.proxy import BackendAddress, forward_get
from services.frontend.api.schemas import Problem
from services.frontend.context import FrontendContext

# Everything here shows other users' activity and every service's log: operators only (the page
# sends everyone else to sign in, or answers 403).
router = APIRouter(tags=["monitoring"])


class MonitoringAddress(BackendAddress):
    """Where the monitoring service listens."""

    model_config = SettingsConfigDict(env_prefix="MONITORING_")

    port: int = 8002


async def _forward(request: Request, path: str) -> StreamingResponse:
    context: FrontendContext = request.app.state.context
    return await forward_get(context.backends.monitoring_url, path, "monitoring", request.query_params)


@router.get("/monitoring", include_in_schema=False, response_model=None)
async def monitoring_page(request: Request, caller: PageCaller) -> Response:
    if caller is None:
        return RedirectResponse("/login?next=/monitoring", status_code=303)
    if not caller.user.is_operator:
        raise HTTPException(403, OPERATORS_ONLY)
    return await _forward(request, "/monitoring")


@router.get("/monitoring/static/{file}", include_in_schema=False)
async def monitoring_asset(file: str, request: Request) -> StreamingResponse:
    return await _forward(request, f"/monitoring/static/{file}")


@router.get(
    "/api/monitoring/{path:path}",
    dependencies=[Depends(current_operator)],
    responses={401: {"model": Problem}, 403: {"model": Problem}, 503: {"model": Problem}},
    summary="The monitoring service's API (status, stream, logs, traces, activity, alerts)",
)
async def monitoring_api(path: str, request: Request) -> StreamingResponse:
    return await _forward(request, f"/api/monitoring/{path}")
