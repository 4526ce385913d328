"""POST /api/playback: the page's player reports how playing a video went (`playback.events`).

Share-link viewers are not signed in, so beacons are taken without an account; what bounds them is
the body (a small JSON object, every field bounded; the body middleware cuts anything over 64 KiB)
and a per-viewer rate (`FRONTEND_PLAYBACK_BEACONS_PER_MINUTE`, keyed by the signed-in user, else the
client's address as the trusted proxy forwards it). A beacon changes nobody's data, so no CSRF token
is asked; the metrics service only adds it into site-wide windows, so a forged one cannot grow a table.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from services.frontend.accounts.api import client_address
from services.frontend.api.deps import AccountsDep, PageCaller
from services.frontend.api.schemas import Problem
from services.frontend.middleware.correlation import CORRELATION_HEADER
from services.frontend.middleware.telemetry import telemetry_of
from shared.events import PLAYBACK_EVENTS, PlaybackReported, new_id

#: A beacon covers at most this many seconds of watching or stalling (pages send one every 10 s or so).
MAX_SECONDS_PER_BEACON = 600.0
_ID = r"^[0-9a-zA-Z_-]{1,64}$"


class PlaybackBeacon(BaseModel):
    """What happened since the session's previous beacon."""

    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(pattern=_ID, description="The video's job id")
    session_id: str = Field(pattern=_ID, description="One page's playing of the video (made up by the page)")
    first: bool = Field(False, description="True on the session's first beacon")
    startup_ms: float | None = Field(None, ge=0, le=600_000, description="Load to first frame, once")
    rebuffers: int = Field(0, ge=0, le=1000)
    rebuffer_s: float = Field(0.0, ge=0, le=MAX_SECONDS_PER_BEACON)
    watched_s: float = Field(0.0, ge=0, le=MAX_SECONDS_PER_BEACON)
    errors: int = Field(0, ge=0, le=10)
    switches: int = Field(0, ge=0, le=1000)
    rendition: str = Field("", max_length=40, pattern=r"^[^\s]*$")


class BeaconAccepted(BaseModel):
    accepted: bool = True


router = APIRouter(tags=["metrics"])


@router.post(
    "/api/playback",
    status_code=202,
    response_model=BeaconAccepted,
    responses={422: {"model": Problem}, 429: {"model": Problem}},
    summary="Report a video's playback (fire and forget; share-link viewers too)",
)
async def record_playback(
    beacon: PlaybackBeacon, request: Request, caller: PageCaller, accounts: AccountsDep
) -> BeaconAccepted:
    viewer = f"user:{caller.user.id}" if caller is not None else f"client:{client_address(request)}"
    wait_s = accounts.limits.playback.take(viewer)
    if wait_s:
        raise HTTPException(429, "too many playback reports; slow down", headers={"Retry-After": str(wait_s)})
    telemetry = telemetry_of(request.state)
    telemetry.emitter.emit(
        PLAYBACK_EVENTS,
        PlaybackReported(
            correlation_id=request.headers.get(CORRELATION_HEADER) or new_id(),
            instance_id=telemetry.instance_id,
            signed_in=caller is not None,
            **beacon.model_dump(),
        ),
    )
    return BeaconAccepted()
