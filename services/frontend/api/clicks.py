"""POST /api/clicks: pages report tracked link clicks; each becomes a `LinkClicked` metric event."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.frontend.api.deps import PageCaller
from services.frontend.middleware.activity import report_activity
from services.frontend.middleware.correlation import CORRELATION_HEADER
from services.frontend.middleware.telemetry import telemetry_of
from shared.events import METRICS_CLICKS, ActivityKind, LinkClicked, new_id


class ClickIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    link: str = Field(min_length=1, max_length=300, description="The link's href or a tracking name")
    page: str = Field(default="", max_length=300, description="The page it was clicked on")


class ClickAccepted(BaseModel):
    accepted: bool = True


router = APIRouter(tags=["metrics"])


@router.post(
    "/api/clicks",
    status_code=202,
    response_model=ClickAccepted,
    summary="Record a click on a tracked link (fire and forget)",
)
async def record_click(click: ClickIn, request: Request, caller: PageCaller) -> ClickAccepted:
    """Visitors' clicks count too; a signed-in user's also join their activity timeline. No CSRF
    token is asked: a forged click changes nothing of anyone's data."""
    telemetry = telemetry_of(request.state)
    user_id = caller.user.id if caller else None
    correlation_id = request.headers.get(CORRELATION_HEADER) or new_id()
    telemetry.emitter.emit(
        METRICS_CLICKS,
        LinkClicked(
            correlation_id=correlation_id,
            link=click.link,
            page=click.page,
            instance_id=telemetry.instance_id,
            user_id=user_id,
        ),
    )
    report_activity(
        request.app,
        ActivityKind.CLICKED,
        user_id=user_id,
        subject=f"link:{click.link}",
        request="POST /api/clicks",
        correlation_id=correlation_id,
    )
    return ClickAccepted()
