"""POST /api/clicks: pages report tracked link clicks; each becomes a `LinkClicked` metric event."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from services.frontend.accounts.dependencies import unauthorized
from services.frontend.api.deps import AccountsDep, PageCaller
from services.frontend.api.schemas import Problem
from services.frontend.middleware.activity import report_activity
from services.frontend.middleware.correlation import CORRELATION_HEADER
from services.frontend.middleware.telemetry import telemetry_of
from shared.events import METRICS_CLICKS, ActivityKind, LinkClicked, new_id


class ClickIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    link: str = Field(
        min_length=1, max_length=200, pattern=r"^[^\s]+$", description="The link's href or a tracking name"
    )
    page: str = Field(
        default="", max_length=200, pattern=r"^[^\s]*$", description="The page it was clicked on"
    )


class ClickAccepted(BaseModel):
    accepted: bool = True


router = APIRouter(tags=["metrics"])


@router.post(
    "/api/clicks",
    status_code=202,
    response_model=ClickAccepted,
    responses={401: {"model": Problem}, 429: {"model": Problem}},
    summary="Record a click on a tracked link (fire and forget)",
)
async def record_click(
    click: ClickIn, request: Request, caller: PageCaller, accounts: AccountsDep
) -> ClickAccepted:
    """Signed-in users' clicks only, so many per minute each (`FRONTEND_CLICKS_PER_MINUTE_PER_USER`),
    and so many distinct links per frontend (`FRONTEND_TRACKED_LINKS`; later new ones count as
    "(other)"): anonymous or runaway callers cannot fill the metrics service's tables or flood the
    activity feed. No CSRF token is asked: a forged click changes nothing of anyone's data."""
    if caller is None:
        raise unauthorized("sign in first: only signed-in users' clicks are counted")
    wait_s = accounts.limits.clicks.take(caller.user.id)
    if wait_s:
        raise HTTPException(429, "too many clicks reported; slow down", headers={"Retry-After": str(wait_s)})
    link = accounts.limits.links.admit(click.link)
    telemetry = telemetry_of(request.state)
    user_id = caller.user.id
    correlation_id = request.headers.get(CORRELATION_HEADER) or new_id()
    telemetry.emitter.emit(
        METRICS_CLICKS,
        LinkClicked(
            correlation_id=correlation_id,
            link=link,
            page=click.page,
            instance_id=telemetry.instance_id,
            user_id=user_id,
        ),
    )
    report_activity(
        request.app,
        ActivityKind.CLICKED,
        user_id=user_id,
        subject=f"link:{link}",
        request="POST /api/clicks",
        correlation_id=correlation_id,
    )
    return ClickAccepted()
