"""Share links: an owner's expiring, revocable links to one upload, usable without an account.

    POST   /api/jobs/{job_id}/shares {expires_in_s}  -> 201 {id, token, url, expires_at}   (owner)
    GET    /api/jobs/{job_id}/shares                 -> the job's links (without tokens)   (owner)
    GET    /api/shares                               -> all the caller's links             (owner)
    DELETE /api/shares/{link}                        -> 204; `link` is its id or its token (owner)
    GET    /s/{token}                                -> the shared upload's page (anyone)
    GET    /s/{token}/media/{name}, /s/{token}/media/hls/{variant}/{file}   (anyone; as /media/...)

Every request through a link reads its row, so a revoked or expired link answers 404 at once. The
token is a secret: it is shown once, stored as a hash, and never logged (routes are reported by
their template, `/s/{token}`, never by their path); the shared pages send no Referer.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from services.frontend.accounts.pages import templates
from services.frontend.api.deps import CurrentUser, OwnedJob
from services.frontend.api.media import DeliveryDep
from services.frontend.api.schemas import Problem, RenditionOut
from services.frontend.delivery import POSTER, hls_master_key, playing_poster
from services.frontend.share_store import SharedJob, ShareStore, TooManyLinks, aware
from shared.database import ShareLinkRow
from shared.events import utc_now

router = APIRouter(tags=["shares"], responses={401: {"model": Problem}})
#: Pages and media through a link: no Referer leaves them, so the token stays in the address bar.
_NO_REFERRER = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def get_shares(request: Request) -> ShareStore:
    shares: ShareStore = request.app.state.shares
    return shares


Shares = Annotated[ShareStore, Depends(get_shares)]


class ShareRequest(BaseModel):
    #: How long the link works, in seconds (default and bounds: SHARES_*).
    expires_in_s: int | None = Field(default=None, ge=60)


class ShareOut(BaseModel):
    id: str
    job_id: str
    #: The shared upload's file name.
    filename: str
    created_at: datetime
    expires_at: datetime
    expired: bool


class ShareCreated(ShareOut):
    #: The secret part of the link: shown this once, never again.
    token: str
    url: str


def _out(link: ShareLinkRow, filename: str) -> ShareOut:
    expires_at = aware(link.expires_at)
    return ShareOut(
        id=link.id,
        job_id=link.job_id,
        filename=filename,
        created_at=aware(link.created_at),
        expires_at=expires_at,
        expired=expires_at <= utc_now(),
    )


@router.post(
    "/api/jobs/{job_id}/shares",
    status_code=201,
    response_model=ShareCreated,
    responses={404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}},
    summary="Make an expiring link to one of your uploads that works without an account",
)
async def create_share(
    job: OwnedJob, user: CurrentUser, shares: Shares, request: Request, body: ShareRequest | None = None
) -> ShareCreated:
    settings = shares.settings
    expires_in_s = (body.expires_in_s if body else None) or settings.default_expiry_s
    if expires_in_s > settings.max_expiry_s:
        raise HTTPException(422, f"a link may live at most {settings.max_expiry_s} seconds")
    try:
        issued = await asyncio.to_thread(shares.create, job.id, user.id, expires_in_s)
    except TooManyLinks as refused:
        raise HTTPException(409, str(refused)) from None
    out = _out(issued.link, job.filename)
    url = str(request.url_for("shared_page", token=issued.token))
    return ShareCreated(**out.model_dump(), token=issued.token, url=url)


@router.get("/api/jobs/{job_id}/shares", response_model=list[ShareOut], summary="An upload's share links")
async def job_shares(job: OwnedJob, user: CurrentUser, shares: Shares) -> list[ShareOut]:
    return [_out(*found) for found in await asyncio.to_thread(shares.of_job, job.id, user.id)]


@router.get("/api/shares", response_model=list[ShareOut], summary="All your share links")
async def my_shares(user: CurrentUser, shares: Shares) -> list[ShareOut]:
    return [_out(*found) for found in await asyncio.to_thread(shares.of_owner, user.id)]


@router.delete(
    "/api/shares/{link}",
    status_code=204,
    responses={404: {"model": Problem}},
    summary="Revoke a share link (by its id or its token): it stops working at once",
)
async def revoke_share(link: str, user: CurrentUser, shares: Shares) -> Response:
    if not await asyncio.to_thread(shares.revoke, user.id, link):
        raise HTTPException(404, "no such link among yours")
    return Response(status_code=204)


async def shared_job(token: str, shares: Shares) -> SharedJob:
    """The job a link's token opens; 404 when the link is unknown, revoked or expired."""
    found = await asyncio.to_thread(shares.open, token)
    if found is None:
        raise HTTPException(404, "this link does not exist, has expired or was revoked")
    return found


SharedDep = Annotated[SharedJob, Depends(shared_job)]


@router.get("/s/{token}", name="shared_page", response_class=HTMLResponse, include_in_schema=False)
async def shared_page(token: str, request: Request, shares: Shares) -> Response:
    found = await asyncio.to_thread(shares.open, token)
    if found is None:
        return templates.TemplateResponse(
            request, "share_gone.html", {}, status_code=404, headers=_NO_REFERRER
        )
    job = found.job
    renditions = [
        RenditionOut(
            name=r.name,
            content_type=r.content_type,
            width=r.width,
            height=r.height,
            bytes=r.bytes,
            url=str(request.url_for("shared_rendition", token=token, name=r.name)),
        )
        for r in job.renditions
    ]
    by_name = {r.name: r for r in renditions}
    if "hls" not in by_name and hls_master_key(job) is not None:
        # Playable while it still encodes: the link plays what is there, as the owner's page does.
        by_name["hls"] = _playing(request, token, "hls", "application/vnd.apple.mpegurl")
        if playing_poster(job) is not None:
            by_name[POSTER] = _playing(request, token, POSTER, "image/jpeg")
    images = [
        r
        for r in renditions
        if r.content_type.startswith("image/") and r.content_type != "image/avif" and job.kind == "image"
    ]
    fitting = [r for r in images if r.width <= 1600] or images
    image = max(fitting, key=lambda r: (r.width, r.content_type == "image/webp"), default=None)
    context = {
        "job": job,
        "renditions": renditions,
        "expires_at": found.expires_at,
        "hls": by_name.get("hls"),
        "poster": by_name.get(POSTER),
        # The largest image that still fits a page.
        "image": image,
        # Its <picture>: the AVIF of that size, then that WebP, then the JPEG every browser shows.
        "image_avif": by_name.get(f"{image.name}-avif") if image else None,
        "image_fallback": next((r for r in images if r.content_type == "image/jpeg"), image),
    }
    return templates.TemplateResponse(request, "share.html", context, headers=_NO_REFERRER)


def _playing(request: Request, token: str, name: str, content_type: str) -> RenditionOut:
    """A video's stream or poster before the job is done (not yet a rendition of it)."""
    url = str(request.url_for("shared_rendition", token=token, name=name))
    return RenditionOut(name=name, content_type=content_type, width=0, height=0, bytes=0, url=url)


@router.get(
    "/s/{token}/media/{name}",
    name="shared_rendition",
    response_class=Response,
    status_code=307,
    responses={404: {"model": Problem}},
    summary="A rendition of a shared upload (a redirect to storage)",
)
async def shared_rendition(shared: SharedDep, name: str, delivery: DeliveryDep) -> Response:
    response = await delivery.rendition(shared.job, name, until=shared.expires_at)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get(
    "/s/{token}/media/hls/{variant}/{file}",
    name="shared_hls_file",
    response_class=Response,
    responses={404: {"model": Problem}},
    summary="A file of a shared video's HLS package",
)
async def shared_hls_file(shared: SharedDep, variant: str, file: str, delivery: DeliveryDep) -> Response:
    return await delivery.hls_file(shared.job, variant, file, until=shared.expires_at)
