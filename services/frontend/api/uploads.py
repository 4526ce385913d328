"""POST /api/uploads: store the original, record the job with its request, ask the workers to re-encode it."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile

from services.frontend.accounts.dependencies import current_user
from services.frontend.api.schemas import Problem, UploadAccepted
from services.frontend.context import FrontendContext, get_context
from services.frontend.job_queue import enqueue
from services.frontend.upload_rules import UploadRefused, check_filename, check_size
from shared.database import UserRow
from shared.events import JobRequested, MediaKind, new_id
from shared.logs import current_correlation_id
from shared.media import (
    CorruptImage,
    ImageTooLarge,
    MediaRejected,
    NotAnImage,
    inspect_image,
    sniff_video,
)

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
    responses={code: {"model": Problem} for code in (400, 401, 413, 415, 422, 503)},
    summary="Upload an image or a video to re-encode",
)
async def upload(
    request: Request,
    file: UploadFile = File(
        description="The image (JPEG, PNG, WebP, GIF, TIFF or AVIF) or video (MP4, MOV, MKV, WebM, AVI)."
    ),
    context: FrontendContext = Depends(get_context),
    user: UserRow = Depends(current_user),
) -> UploadAccepted:
    """Accepts the file, answers 202 with the job id, and re-encodes it in the background.

    The 202 is sent only once the original is stored and the job is committed together with its
    request to the workers (the outbox), so an accepted upload is never lost: the request is
    published at once when Kafka answers in time, or later by the outbox relay.
    """
    try:
        filename = check_filename(file.filename)
        size = file.size if file.size is not None else _measure(file)
        kind, content_type = await asyncio.to_thread(_identify, file, size, context)
    except UploadRefused as refused:
        raise HTTPException(refused.status_code, refused.detail) from refused
    except MediaRejected as rejected:
        raise HTTPException(_STATUS_FOR_REJECTION.get(type(rejected), 422), str(rejected)) from rejected
    file.file.seek(0)

    job_id = new_id()
    request_event = JobRequested(
        correlation_id=current_correlation_id() or new_id(),
        job_id=job_id,
        kind=kind,
        source_key=f"{job_id}/original",
        filename=filename,
        content_type=content_type,
        size_bytes=size,
        user_id=user.id,
    )
    store = context.store
    await asyncio.to_thread(
        store.put_stream,
        store.uploads_bucket,
        request_event.source_key,
        file.file,
        size,
        content_type,
    )
    await enqueue(context, request_event)
    return UploadAccepted(job_id=job_id, status_url=str(request.url_for("get_job", job_id=job_id)))


def _identify(file: UploadFile, size: int, context: FrontendContext) -> tuple[MediaKind, str]:
    """Image or video, and its MIME type, from the file's first bytes; refuses what is over the limits.

    Videos are only recognised by their container here: the workers probe the streams (ffprobe) and
    fail the job with the reason if they do not decode.
    """
    video_type = sniff_video(file.file.read(64))
    file.file.seek(0)
    if video_type is not None:
        check_size(size, context.video_limits.max_upload_bytes)
        return MediaKind.VIDEO, video_type
    check_size(size, context.limits.max_upload_bytes)
    try:
        info = inspect_image(file.file, context.limits.max_image_pixels)
    except NotAnImage as error:
        raise NotAnImage(f"{error}, or a video (MP4, MOV, MKV, WebM or AVI)") from error
    return MediaKind.IMAGE, info.content_type


def _measure(file: UploadFile) -> int:
    file.file.seek(0, 2)
    size = file.file.tell()
    file.file.seek(0)
    return size
