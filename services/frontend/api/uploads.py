"""POST /api/uploads: store the original, record the job with its request, ask the workers to re-encode it.

Everything that can refuse an upload from its headers is decided before a byte of its body is read:
who the caller is (401) and, for a browser session, the CSRF token (403) — the route
takes the raw request, so FastAPI parses no body before its dependencies — then the size from
`Content-Length` and the declared kind (`X-Upload-Kind`/`?kind=`, else the file part's content
type), the user's stored-bytes quota (413) and their uploads in flight (429). Only then is the
multipart body streamed (api/upload_body.py), the file spooled and cut at its limit; its first bytes
confirm the kind.

This one-request upload stays for simple clients (curl, scripts) and small files: every byte passes
through this process and a dropped connection starts over. Large files go straight to storage,
resumably, through /api/uploads/multipart (api/multipart.py); the upload page does so above 5 MiB.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from services.frontend.accounts.api import too_many
from services.frontend.accounts.limits import TooMany
from services.frontend.api.deps import AccountsDep, Context, CurrentUser
from services.frontend.api.schemas import Problem, UploadAccepted
from services.frontend.api.upload_body import ReceivedFile, multipart_boundary, receive_file
from services.frontend.context import FrontendContext
from services.frontend.job_queue import enqueue
from services.frontend.media_check import identify_media
from services.frontend.middleware.body_size import MULTIPART_ALLOWANCE
from services.frontend.upload_rules import (
    KIND_HEADER,
    UploadRefused,
    check_declared_length,
    check_quota,
    declared_kind,
    limit_for,
)
from shared.events import JobRequested, MediaKind, new_id
from shared.logs import current_correlation_id
from shared.media import CorruptImage, ImageTooLarge, MediaRejected, NotAnImage

log = logging.getLogger(__name__)
router = APIRouter(tags=["uploads"])

_STATUS_FOR_REJECTION: dict[type[MediaRejected], int] = {
    NotAnImage: 415,
    ImageTooLarge: 413,
    CorruptImage: 422,
}

#: The request body /docs shows: the route reads it itself, so FastAPI cannot describe it.
_MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The image (JPEG, PNG, WebP, GIF, TIFF or AVIF) or video "
                            "(MP4, MOV, MKV, WebM, AVI).",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/api/uploads",
    status_code=202,
    response_model=UploadAccepted,
    responses={code: {"model": Problem} for code in (400, 401, 403, 413, 415, 422, 429, 503)},
    summary="Upload an image or a video to re-encode",
    openapi_extra=_MULTIPART_BODY,
)
async def upload(
    request: Request,
    context: Context,
    user: CurrentUser,
    accounts: AccountsDep,
    kind: Annotated[
        str | None,
        Query(description="'image' or 'video' (or the X-Upload-Kind header): sized before reading"),
    ] = None,
) -> UploadAccepted:
    """Accepts the file, answers 202 with the job id, and re-encodes it in the background.

    The 202 is sent only once the original is stored and the job is committed together with its
    request to the workers (the outbox), so an accepted upload is never lost: the request is
    published at once when Kafka answers in time, or later by the outbox relay.
    """
    image_limit = context.limits.max_upload_bytes
    video_limit = context.video_limits.max_upload_bytes
    quota = accounts.settings.stored_bytes_per_user
    try:
        boundary = multipart_boundary(request)
        said = declared_kind(request.headers.get(KIND_HEADER), kind)
        length = _content_length(request)
        check_declared_length(length, limit_for(said, "", image_limit, video_limit), MULTIPART_ALLOWANCE)
        stored = (await asyncio.to_thread(accounts.store.stats, user.id)).bytes
        check_quota(stored, quota, max(0, (length or 0) - MULTIPART_ALLOWANCE))
        room = quota - stored
        with accounts.limits.uploads.slot(
            user.id,
            f"you are already sending {accounts.settings.uploads_in_flight_per_user} uploads; "
            "wait for one to finish",
        ):
            received = await receive_file(
                request,
                boundary,
                lambda part_type: min(room, limit_for(said, part_type, image_limit, video_limit)),
            )
            try:
                return await _accept(request, context, user.id, received)
            finally:
                received.close()
    except UploadRefused as refused:
        raise HTTPException(refused.status_code, refused.detail) from refused
    except MediaRejected as rejected:
        raise HTTPException(_STATUS_FOR_REJECTION.get(type(rejected), 422), str(rejected)) from rejected
    except TooMany as busy:
        raise too_many(busy) from busy


async def _accept(
    request: Request, context: FrontendContext, user_id: str, received: ReceivedFile
) -> UploadAccepted:
    kind, content_type = await asyncio.to_thread(_identify, received, context)
    received.spool.seek(0)
    job_id = new_id()
    request_event = JobRequested(
        correlation_id=current_correlation_id() or new_id(),
        job_id=job_id,
        kind=kind,
        source_key=f"{job_id}/original",
        filename=received.filename,
        content_type=content_type,
        size_bytes=received.size,
        user_id=user_id,
    )
    store = context.store
    await asyncio.to_thread(
        store.put_stream,
        store.uploads_bucket,
        request_event.source_key,
        received.spool,
        received.size,
        content_type,
    )
    await enqueue(context, request_event)
    return UploadAccepted(job_id=job_id, status_url=str(request.url_for("get_job", job_id=job_id)))


def _identify(received: ReceivedFile, context: FrontendContext) -> tuple[MediaKind, str]:
    return identify_media(received.spool, received.size, context.limits, context.video_limits)


def _content_length(request: Request) -> int | None:
    text = request.headers.get("content-length", "").strip()
    return int(text) if text.isdigit() else None
