"""Direct, resumable uploads: the site decides and signs, the client sends the bytes to storage.

    POST   /api/uploads/multipart                      {filename, size, content_type} -> 201
    GET    /api/uploads/multipart/{job_id}/parts       the parts stored so far (to resume)
    POST   /api/uploads/multipart/{job_id}/parts/sign  {part_numbers, part_size?} -> presigned PUT URLs
    POST   /api/uploads/multipart/{job_id}/complete    {parts: [{part_number, etag}]} -> 202 {job}
    DELETE /api/uploads/multipart/{job_id}             cancel: parts and job removed -> 204

Every route needs a signed-in caller (and a browser session's CSRF token on unsafe methods);
another user's upload is answered 404 like a missing one. The flow is in
services/frontend/direct_uploads.py; Uppy (static/upload.js) and `reencode upload` speak it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.frontend.api.deps import Context, CurrentUser, OwnedJob
from services.frontend.api.schemas import JobOut, Problem
from services.frontend.direct_uploads import DirectUploads
from services.frontend.upload_rules import UploadRefused
from shared.events import new_id
from shared.logs import current_correlation_id

router = APIRouter(tags=["uploads"])


def get_direct_uploads(request: Request) -> DirectUploads:
    uploads: DirectUploads = request.app.state.direct_uploads
    return uploads


DirectUploadsDep = Annotated[DirectUploads, Depends(get_direct_uploads)]


class StartUpload(BaseModel):
    # The key is the site's to choose (under the caller's prefix): a client naming one, or any
    # other field, is told so (422) rather than silently ignored.
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(max_length=1000)
    #: The file's size in bytes: checked against the declared kind's limit and the quota.
    size: int = Field(ge=0)
    #: The file's MIME type (image/... or video/...): its bytes confirm it once stored.
    content_type: str = Field(max_length=100)


class UploadStarted(BaseModel):
    job_id: str
    #: Object key of the original in the uploads bucket (under the job's own prefix).
    key: str
    part_size: int
    part_count: int


class PartOut(BaseModel):
    part_number: int
    etag: str
    size: int


class PartList(BaseModel):
    parts: list[PartOut]


class SignParts(BaseModel):
    part_numbers: list[int] = Field(min_length=1, max_length=1000)
    #: The size the client cuts the file in (every part but the last); the started upload's
    #: `part_size` when absent. Each URL accepts exactly its part's length.
    part_size: int | None = Field(default=None, ge=1)


class SignedParts(BaseModel):
    #: Part number -> presigned PUT URL (short-lived).
    urls: dict[int, str]


class CompletedPart(BaseModel):
    part_number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=200)


class CompleteUpload(BaseModel):
    parts: list[CompletedPart] = Field(max_length=10_000)


_REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (400, 401, 403, 404, 409, 413, 415, 429, 503)
}


@router.post(
    "/api/uploads/multipart",
    status_code=201,
    response_model=UploadStarted,
    responses=_REFUSALS,
    summary="Start a direct, resumable upload to storage",
)
async def start_upload(body: StartUpload, user: CurrentUser, uploads: DirectUploadsDep) -> UploadStarted:
    """Checks the declared kind's size limit, the quota and open uploads, then creates the job
    (`uploading`) and the multipart upload. Send the parts with URLs from `.../parts/sign`."""
    correlation_id = current_correlation_id() or new_id()
    try:
        started = await asyncio.to_thread(
            uploads.start, user.id, body.filename, body.size, body.content_type, correlation_id
        )
    except UploadRefused as refused:
        raise HTTPException(refused.status_code, refused.detail) from refused
    return UploadStarted(
        job_id=started.job_id, key=started.key, part_size=started.part_size, part_count=started.part_count
    )


@router.get(
    "/api/uploads/multipart/{job_id}/parts",
    response_model=PartList,
    responses=_REFUSALS,
    summary="The parts of an upload already stored (to resume)",
)
async def list_parts(job: OwnedJob, uploads: DirectUploadsDep) -> PartList:
    try:
        parts = await asyncio.to_thread(uploads.parts, job)
    except UploadRefused as refused:
        raise HTTPException(refused.status_code, refused.detail) from refused
    return PartList(parts=[PartOut(part_number=p.number, etag=p.etag, size=p.size) for p in parts])


@router.post(
    "/api/uploads/multipart/{job_id}/parts/sign",
    response_model=SignedParts,
    responses=_REFUSALS,
    summary="Presigned URLs to PUT parts of an upload to storage",
)
async def sign_parts(body: SignParts, job: OwnedJob, uploads: DirectUploadsDep) -> SignedParts:
    try:
        urls = await asyncio.to_thread(uploads.sign, job, body.part_numbers, body.part_size)
    except UploadRefused as refused:
        raise HTTPException(refused.status_code, refused.detail) from refused
    return SignedParts(urls=urls)


@router.post(
    "/api/uploads/multipart/{job_id}/complete",
    status_code=202,
    response_model=JobOut,
    responses=_REFUSALS,
    summary="Assemble the uploaded parts; the stored file's job is checked and queued",
)
async def complete_upload(
    body: CompleteUpload, job: OwnedJob, request: Request, context: Context, uploads: DirectUploadsDep
) -> JobOut:
    parts = [(p.part_number, p.etag) for p in body.parts]
    try:
        await asyncio.to_thread(uploads.complete, job, parts)
    except UploadRefused as refused:
        raise HTTPException(refused.status_code, refused.detail) from refused
    # The request is committed with the job: published now, else by the relay once Kafka is back.
    await context.outbox.publish_job(job.id)
    current = await asyncio.to_thread(context.jobs.get, job.id)
    return JobOut.from_row(current or job, request)


@router.delete(
    "/api/uploads/multipart/{job_id}",
    status_code=204,
    responses=_REFUSALS,
    summary="Cancel an upload under way (its parts and its job are removed)",
)
async def abort_upload(job: OwnedJob, uploads: DirectUploadsDep) -> Response:
    try:
        await asyncio.to_thread(uploads.abort, job)
    except UploadRefused as refused:
        raise HTTPException(refused.status_code, refused.detail) from refused
    return Response(status_code=204)
