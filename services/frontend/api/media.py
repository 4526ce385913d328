"""GET /media/{job_id}/{name}: download a rendition, streamed from object storage."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse

from services.frontend.api.schemas import Problem
from services.frontend.context import FrontendContext, get_context

router = APIRouter(tags=["media"])


@router.get(
    "/media/{job_id}/{name}",
    name="download_rendition",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/*": {}}}, 404: {"model": Problem}},
    summary="Download one rendition of a job",
)
async def download_rendition(
    job_id: str, name: str, context: FrontendContext = Depends(get_context)
) -> StreamingResponse:
    job = await asyncio.to_thread(context.jobs.get, job_id)
    rendition = next((r for r in job.renditions if r.name == name), None) if job else None
    if job is None or rendition is None:
        raise HTTPException(404, f"job {job_id!r} has no rendition {name!r}")
    extension = rendition.key.rsplit(".", 1)[-1]
    download_name = f"{job.filename.rsplit('.', 1)[0]}-{name}.{extension}"
    return StreamingResponse(
        context.store.iter_chunks(context.store.renditions_bucket, rendition.key),
        media_type=rendition.content_type,
        headers={
            "Content-Length": str(rendition.bytes),
            "Content-Disposition": _attachment(download_name),
            "Cache-Control": "public, max-age=31536000, immutable",
        },
    )


def _attachment(filename: str) -> str:
    return f"inline; filename*=UTF-8''{quote(filename)}"
