"""Queueing a job whose original is stored: record it, then ask the workers over Kafka.

Shared by uploads and retries. The row comes first so that a worker's status events always find
it; if Kafka refuses the request, the job is marked failed with the reason (so the user can retry)
and the caller answers 503: nothing accepted is silently lost.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.errors import KafkaError
from fastapi import HTTPException

from services.frontend.context import FrontendContext
from shared.events import JOBS_REQUESTED, JobRequested

log = logging.getLogger(__name__)

BUS_DOWN = "the job could not be queued: the message bus is unavailable, please try again"


async def enqueue(context: FrontendContext, request: JobRequested) -> None:
    await asyncio.to_thread(context.jobs.create, request)
    # Logged before publishing, so in a trace this line comes before any worker's (cause, then effect).
    log.info(
        "job %s recorded, queueing it: %s (%s, %d bytes)",
        request.job_id,
        request.filename,
        request.content_type,
        request.size_bytes,
    )
    try:
        await context.producer.publish(JOBS_REQUESTED, request)
    except KafkaError as error:
        log.error("job %s not queued: %s", request.job_id, error)
        await asyncio.to_thread(context.jobs.mark_failed, request.job_id, BUS_DOWN)
        raise HTTPException(503, BUS_DOWN) from error
