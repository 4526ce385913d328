"""POST /api/uploads: store the original, record the job, ask the workers to re-encode it."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile

from services.frontend.api.schemas import Problem, UploadAccepted
from services.frontend.context import FrontendContext, get_context
from services.frontend.upload_rules import UploadRefused, check_filename, check_size
from shared.events import JOBS_REQUESTED, JobRequested, MediaKind, new_id
from shared.logs import current_correlation_id
from shared.media import CorruptImage, ImageTooLarge, MediaRejected, NotAnImage, inspect_image

log = logging.getLogger(__name__)
router = APIRouter(tags=["uploads"])

_STATUS_FOR_REJECTION: dict[type[MediaRejected], int] = {
    NotAnImage: 415,
    ImageTooLarge: 413,
    CorruptImage: 422,
}


@router.post(
    "/api/uploads",
    status_code=202,
    response_model=UploadAccepted,
    responses={code: {"model": Problem} for code in (400, 413, 415, 422, 503)},
    summary="Upload an image to re-encode",
)
async def upload(
    request: Request,
    file: UploadFile = File(description="The image (JPEG, PNG, WebP, GIF, TIFF or AVIF)."),
    context: FrontendContext = Depends(get_context),
) -> UploadAccepted:
    """Accepts the file, answers 202 with the job id, and re-encodes it in the background.

    The 202 is sent only once the original is stored, the job is recorded and the request is
    acknowledged by every in-sync Kafka replica, so an accepted upload is never lost.
    """
    try:
        filename = check_filename(file.filename)
        size = file.size if file.size is not None else _measure(file)
        check_size(size, context.limits.max_upload_bytes)
        info = await asyncio.to_thread(inspect_image, file.file, context.limits.max_image_pixels)
    except UploadRefused as refused:
        raise HTTPException(refused.status_code, refused.detail) from refused
    except MediaRejected as rejected:
        raise HTTPException(_STATUS_FOR_REJECTION.get(type(rejected), 422), str(rejected)) from rejected
    file.file.seek(0)

    job_id = new_id()
    request_event = JobRequested(
        correlation_id=current_correlation_id() or new_id(),
        job_id=job_id,
        kind=MediaKind.IMAGE,
        source_key=f"{job_id}/original",
        filename=filename,
        content_type=info.content_type,
        size_bytes=size,
    )
    store = context.store
    await asyncio.to_thread(
        store.put_stream,
        store.uploads_bucket,
        request_event.source_key,
        file.file,
        size,
        info.content_type,
    )
    await asyncio.to_thread(context.jobs.create, request_event)
    try:
        await context.producer.publish(JOBS_REQUESTED, request_event)
    except KafkaError as error:
        reason = "the job could not be queued: the message bus is unavailable, please upload again"
        log.error("job %s not queued: %s", job_id, error)
        await asyncio.to_thread(context.jobs.mark_failed, job_id, reason)
        raise HTTPException(503, reason) from error
    log.info("job %s queued: %s (%s, %d bytes)", job_id, filename, info.format, size)
    return UploadAccepted(job_id=job_id, status_url=str(request.url_for("get_job", job_id=job_id)))


def _measure(file: UploadFile) -> int:
    file.file.seek(0, 2)
    size = file.file.tell()
    file.file.seek(0)
    return size
