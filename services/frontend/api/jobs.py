"""GET /api/jobs...: a job's state, the newest jobs, and a live stream of one job's changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from services.frontend.api.schemas import JobList, JobOut, Problem
from services.frontend.context import FrontendContext, get_context
from shared.events import JobStatus

router = APIRouter(tags=["jobs"])

#: How often the live stream looks for changes, and how often it proves the connection is alive.
POLL_INTERVAL_S = 0.5
KEEPALIVE_S = 15.0


async def _load(context: FrontendContext, request: Request, job_id: str) -> JobOut:
    job = await asyncio.to_thread(context.jobs.get, job_id)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    return JobOut.from_row(job, request)


@router.get("/api/jobs", response_model=JobList, summary="The newest jobs, a page at a time")
async def list_jobs(
    request: Request,
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0),
    context: FrontendContext = Depends(get_context),
) -> JobList:
    page = await asyncio.to_thread(context.jobs.page, limit, offset)
    return JobList(
        jobs=[JobOut.from_row(job, request) for job in page.jobs],
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
async def get_job(job_id: str, request: Request, context: FrontendContext = Depends(get_context)) -> JobOut:
    return await _load(context, request, job_id)


@router.get(
    "/api/jobs/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}}, 404: {"model": Problem}},
    summary="Server-sent events: the job each time it changes, until it is done or failed",
)
async def stream_job(
    job_id: str, request: Request, context: FrontendContext = Depends(get_context)
) -> StreamingResponse:
    first = await _load(context, request, job_id)

    async def events() -> AsyncIterator[str]:
        job, last_sent, quiet_s = first, "", 0.0
        while True:
            body = job.model_dump_json()
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
            job = await _load(context, request, job_id)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
