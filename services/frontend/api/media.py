"""GET /media/{job_id}/{name}: a rendition of the caller's own job, as a redirect (307) to a short-lived
presigned storage URL, so the bytes never pass through Python and `Range` works; and the files of a
video's HLS package (GET /media/{job_id}/hls/{variant}/{file}), which its master playlist refers to:
variant playlists served here with their segments presigned, segments redirected."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from services.frontend.api.deps import OwnedJob
from services.frontend.api.schemas import Problem
from services.frontend.delivery import Delivery, get_delivery, is_hls_file

router = APIRouter(tags=["media"], responses={401: {"model": Problem}})

DeliveryDep = Annotated[Delivery, Depends(get_delivery)]

__all__ = ["DeliveryDep", "is_hls_file", "router"]


@router.get(
    "/media/{job_id}/{name}",
    name="download_rendition",
    response_class=Response,
    status_code=307,
    responses={
        307: {"description": "Redirect to the rendition in storage (a presigned URL, valid minutes)"},
        200: {"content": {"application/vnd.apple.mpegurl": {}}, "description": "The HLS master playlist"},
        404: {"model": Problem},
    },
    summary="Download one rendition of a job",
)
async def download_rendition(job: OwnedJob, name: str, delivery: DeliveryDep) -> Response:
    return await delivery.rendition(job, name)


@router.get(
    "/media/{job_id}/hls/{variant}/{file}",
    name="download_hls_file",
    response_class=Response,
    responses={
        200: {"content": {"application/vnd.apple.mpegurl": {}}, "description": "A variant playlist"},
        307: {"description": "A segment: redirect to storage"},
        404: {"model": Problem},
    },
    summary="One file of a video's HLS package: a variant playlist (segments presigned) or a segment",
)
async def download_hls_file(job: OwnedJob, variant: str, file: str, delivery: DeliveryDep) -> Response:
    return await delivery.hls_file(job, variant, file)
