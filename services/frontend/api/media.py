"""GET /media/{job_id}/{name}: download a rendition, streamed from object storage; and the files of a
video's HLS package (GET /media/{job_id}/hls/{variant}/{file}), which its master playlist refers to."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse

from services.frontend.api.deps import Context, OwnedJob
from services.frontend.api.schemas import Problem
from shared.media import HLS_CONTENT_TYPES

router = APIRouter(tags=["media"], responses={401: {"model": Problem}})
#: Media is private to its owner: browsers may cache it, shared caches must not.
_CACHE = "private, max-age=86400"

#: The only HLS files a package holds: variant playlists and numbered segments (no paths, no dots).
_HLS_VARIANT = re.compile(r"[0-9a-z]{1,16}")
_HLS_FILE = re.compile(r"index\.m3u8|seg_[0-9]{5,9}\.ts")


def is_hls_file(variant: str, file: str) -> bool:
    """Whether `variant`/`file` can name a file of an HLS package: the whole name must match (a `$`
    would let a trailing newline through)."""
    return bool(_HLS_VARIANT.fullmatch(variant) and _HLS_FILE.fullmatch(file))


@router.get(
    "/media/{job_id}/{name}",
    name="download_rendition",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/*": {}}}, 404: {"model": Problem}},
    summary="Download one rendition of a job",
)
async def download_rendition(job: OwnedJob, name: str, context: Context) -> StreamingResponse:
    rendition = next((r for r in job.renditions if r.name == name), None)
    if rendition is None:
        raise HTTPException(404, f"job {job.id!r} has no rendition {name!r}")
    extension = rendition.key.rsplit(".", 1)[-1]
    download_name = f"{job.filename.rsplit('.', 1)[0]}-{name}.{extension}"
    return StreamingResponse(
        context.store.iter_chunks(context.store.renditions_bucket, rendition.key),
        media_type=rendition.content_type,
        headers={
            "Content-Length": str(rendition.bytes),
            "Content-Disposition": _attachment(download_name),
            "Cache-Control": _CACHE,
        },
    )


@router.get(
    "/media/{job_id}/hls/{variant}/{file}",
    name="download_hls_file",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/vnd.apple.mpegurl": {}, "video/mp2t": {}}},
        404: {"model": Problem},
    },
    summary="One file of a video's HLS package: a variant playlist or a segment",
)
async def download_hls_file(job: OwnedJob, variant: str, file: str, context: Context) -> StreamingResponse:
    master = next((r for r in job.renditions if r.name == "hls"), None)
    if master is None or not is_hls_file(variant, file):
        raise HTTPException(404, f"job {job.id!r} has no HLS file {variant}/{file}")
    # Beside the master playlist: <job>/hls/<variant>/<file>.
    key = f"{master.key.rsplit('/', 1)[0]}/{variant}/{file}"
    store = context.store
    stored = await asyncio.to_thread(store.stat, store.renditions_bucket, key)
    if stored is None:
        raise HTTPException(404, f"job {job.id!r} has no HLS file {variant}/{file}")
    return StreamingResponse(
        store.iter_chunks(store.renditions_bucket, key),
        media_type=HLS_CONTENT_TYPES["." + file.rsplit(".", 1)[-1]],
        headers={"Content-Length": str(stored.size), "Cache-Control": _CACHE},
    )


def _attachment(filename: str) -> str:
    return f"inline; filename*=UTF-8''{quote(filename)}"
