"""/api/jobs...: the caller's jobs, one job's state, a live stream of its changes, retrying a failed
one and deleting one.

Every route answers only for the caller's own jobs; anyone else's job is a 404, like a missing one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

from aiokafka.errors import KafkaError
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from services.frontend.api.deps import AccountsDep, Context, CurrentUser, OwnedJob
from services.frontend.api.schemas import JobList, JobOut, Problem, RenditionLinks, UploadAccepted
from services.frontend.eta import EtaEstimator
from services.frontend.job_queue import enqueue
from services.frontend.upload_rules import UploadRefused, check_quota
from shared.events import (
    MEDIA_DELETED,
    JobRequested,
    JobStatus,
    MediaDeleted,
    MediaKind,
    new_id,
)
from shared.logs import current_correlation_id

log = logging.getLogger(__name__)
router = APIRouter(tags=["jobs"], responses={401: {"model": Problem}})

#: How often the live stream looks for changes, and how often it proves the connection is alive.
POLL_INTERVAL_S = 0.5
KEEPALIVE_S = 15.0
#: The reason a stuck job shows once its owner retried it.
_GIVEN_UP = "the job was stuck without news from any worker; its owner retried it as a new job"


@router.get("/api/jobs", response_model=JobList, summary="The newest jobs, a page at a time")
async def list_jobs(
    request: Request,
    context: Context,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobList:
    page = await asyncio.to_thread(context.jobs.page, limit, offset, user.id)
    links = RenditionLinks(request)
    return JobList(
        jobs=[JobOut.from_row(job, request, links) for job in page.jobs],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/api/jobs/{job_id}",
    response_model=JobOut,
    responses={404: {"model": Problem}},
    summary="One job: status, progress, error and renditions",
)
async def get_job(job: OwnedJob, request: Request) -> JobOut:
    return JobOut.from_row(job, request)


@router.get(
    "/api/jobs/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}}, 404: {"model": Problem}},
    summary="Server-sent events: the job each time it changes, until it is done or failed",
)
async def stream_job(
    watched: OwnedJob, request: Request, context: Context, user: CurrentUser
) -> StreamingResponse:
    first = JobOut.from_row(watched, request)

    async def events() -> AsyncIterator[str]:
        job, last_sent, quiet_s = first, "", 0.0
        eta = EtaEstimator(time.monotonic)
        while True:
            body = job.model_copy(update={"eta_s": eta.update(job.progress)}).model_dump_json()
            if body != last_sent:
                yield f"event: job\ndata: {body}\n\n"
                last_sent, quiet_s = body, 0.0
            if job.status in (JobStatus.DONE, JobStatus.FAILED) or await request.is_disconnected():
                return
            if quiet_s >= KEEPALIVE_S:
                yield ": keep-alive\n\n"
                quiet_s = 0.0
            await asyncio.sleep(POLL_INTERVAL_S)
            quiet_s += POLL_INTERVAL_S
            row = await asyncio.to_thread(context.jobs.get, first.job_id, user.id)
            if row is None:
                return  # deleted while watched
            job = JobOut.from_row(row, request)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.delete(
    "/api/jobs/{job_id}",
    status_code=204,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
    summary="Delete an upload: its original, its renditions and its job",
)
async def delete_job(job: OwnedJob, context: Context, user: CurrentUser) -> Response:
    """Only finished, failed, stuck or still uploading jobs: a job still encoding would write
    renditions after the delete; one without news past the stuck deadline (SWEEPER_*) no longer
    counts as encoding. An upload under way is cancelled (its multipart upload aborted)."""
    job_id = job.id
    uploading = job.status == JobStatus.UPLOADING
    if not uploading and not JobStatus(job.status).is_terminal and not context.jobs.is_stuck(job):
        raise HTTPException(409, f"job {job_id!r} is still {job.status}; delete it once it is done or failed")
    store = context.store
    if uploading and job.upload_id is not None:
        # A direct upload under way: its parts go with it, and part URLs already handed out
        # can no longer store anything.
        await asyncio.to_thread(store.multipart.abort, job.source_key, job.upload_id)
    # Objects first, rows last: if anything fails half-way, the job is still listed and can be
    # deleted again, instead of leaving invisible objects behind.
    removed = await asyncio.to_thread(store.remove_prefix, store.uploads_bucket, f"{job_id}/")
    removed += await asyncio.to_thread(store.remove_prefix, store.renditions_bucket, f"{job_id}/")
    await asyncio.to_thread(context.jobs.delete, job_id)
    deleted = MediaDeleted(
        correlation_id=current_correlation_id() or job.correlation_id,
        job_id=job_id,
        user_id=user.id,
        objects_removed=removed,
    )
    try:
        await context.producer.publish(MEDIA_DELETED, deleted)
    except KafkaError as error:
        # The deletion itself is done and cannot be undone; only the announcement is lost.
        log.warning("job %s deleted but not announced: %s", job_id, error)
    return Response(status_code=204)


@router.post(
    "/api/jobs/{job_id}/retry",
    status_code=202,
    response_model=UploadAccepted,
    responses={
        404: {"model": Problem},
        409: {"model": Problem},
        410: {"model": Problem},
        503: {"model": Problem},
    },
    summary="Re-encode a failed job's original again, as a new job",
)
async def retry_job(
    failed: OwnedJob, request: Request, context: Context, user: CurrentUser, accounts: AccountsDep
) -> UploadAccepted:
    """The original is copied inside storage to a new job, so the new attempt starts clean: no
    marker, partial output or late status event of the failed one can touch it. The failed job
    stays listed, with its reason, until its owner deletes it. A job stuck past its deadline is
    failed first (conditionally: unless it moved meanwhile), then retried like a failed one."""
    job_id = failed.id
    if failed.status != JobStatus.FAILED and not (
        context.jobs.is_stuck(failed) and await asyncio.to_thread(context.jobs.give_up, failed, _GIVEN_UP)
    ):
        raise HTTPException(409, f"job {job_id!r} is {failed.status}; only failed jobs can be retried")
    store = context.store
    if await asyncio.to_thread(store.stat, store.uploads_bucket, failed.source_key) is None:
        raise HTTPException(410, f"the original of job {job_id!r} is gone; please upload it again")
    # Each retry stores another copy of the original: it counts against the quota, and a job (with
    # the retries made from it) is retried only so often.
    stored = (await asyncio.to_thread(accounts.store.stats, user.id)).bytes
    try:
        check_quota(stored, accounts.settings.stored_bytes_per_user, failed.size_bytes)
    except UploadRefused as refused:
        raise HTTPException(refused.status_code, refused.detail) from None
    most = accounts.settings.retries_per_job
    retries = await asyncio.to_thread(context.jobs.claim_retry, job_id, most)
    if retries is None:
        raise HTTPException(409, f"job {job_id!r} was retried {most} times already; please upload it again")
    new_job_id = new_id()
    retry = JobRequested(
        correlation_id=current_correlation_id() or new_id(),
        job_id=new_job_id,
        kind=MediaKind(failed.kind),
        source_key=f"{new_job_id}/original",
        filename=failed.filename,
        content_type=failed.content_type,
        size_bytes=failed.size_bytes,
        user_id=user.id,
    )
    await asyncio.to_thread(store.copy, store.uploads_bucket, failed.source_key, retry.source_key)
    await enqueue(context, retry, retries)
    log.info("job %s retries failed job %s", retry.job_id, job_id)
    return UploadAccepted(
        job_id=retry.job_id, status_url=str(request.url_for("get_job", job_id=retry.job_id))
    )
