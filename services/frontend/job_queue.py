"""Queueing a job whose original is stored: record it with its request, then publish the request.

Shared by uploads and retries. The job's row and its `JobRequested` are committed in one
transaction (the outbox, services/frontend/outbox.py): once that commit returns, the job is
durable and the caller answers 202. The request is then published at once when Kafka answers in
time; otherwise it waits in the outbox and the relay publishes it when Kafka is back. Kafka being
slow or away never fails a job.

If the row cannot be written, the original stored for it is removed at once (best effort; the
sweeper removes what is left over), and the error goes up (503 when the database is away).
"""

from __future__ import annotations

import asyncio
import logging

from services.frontend.context import FrontendContext
from shared.events import JobRequested

log = logging.getLogger(__name__)


async def enqueue(context: FrontendContext, request: JobRequested, retries: int = 0) -> None:
    try:
        await asyncio.to_thread(context.jobs.create, request, retries)
    except Exception:
        await remove_unrecorded_original(context, request)
        raise
    # Logged before publishing, so in a trace this line comes before any worker's (cause, then effect).
    log.info(
        "job %s recorded, queueing it: %s (%s, %d bytes)",
        request.job_id,
        request.filename,
        request.content_type,
        request.size_bytes,
    )
    if not await context.outbox.publish_job(request.job_id):
        log.warning("job %s accepted; its request waits in the outbox until Kafka takes it", request.job_id)


async def remove_unrecorded_original(context: FrontendContext, request: JobRequested) -> None:
    """The job's row was not written: remove its original, unless the row exists after all (a commit
    whose answer was lost). Best effort; what stays is removed by the sweeper later."""
    store = context.store
    try:
        if await asyncio.to_thread(context.jobs.get, request.job_id) is not None:
            return
        await asyncio.to_thread(store.remove_prefix, store.uploads_bucket, f"{request.job_id}/")
        log.info("job %s not recorded: its original %s was removed", request.job_id, request.source_key)
    except Exception as error:  # the database or storage is away too: the sweeper will do it
        log.warning(
            "job %s not recorded, and its original %s not removed yet: %r",
            request.job_id,
            request.source_key,
            error,
        )
