"""Keeps the jobs table in step with the workers' `jobs.status` events.

Runs inside every frontend instance in one consumer group, so each event is recorded once however
many frontends run, and any frontend can answer for any job from the database.
"""

from __future__ import annotations

import asyncio
import logging

from services.frontend.job_store import JobStore
from shared.events import JobStatusChanged
from shared.kafka import Delivery, PermanentError
from shared.storage import belongs_to_job

log = logging.getLogger(__name__)


class StatusRecorder:
    def __init__(self, jobs: JobStore) -> None:
        self._jobs = jobs

    async def __call__(self, event: JobStatusChanged, delivery: Delivery) -> None:
        foreign = [r.key for r in event.renditions if not belongs_to_job(event.job_id, r.key)]
        if foreign:
            # Only a forged or broken event names another job's objects: never serve them as this job's.
            raise PermanentError(f"renditions outside job {event.job_id}: {', '.join(foreign[:3])}")
        changed = await asyncio.to_thread(self._jobs.apply, event)
        if changed:
            log.info("job %s is %s (%.0f%%)", event.job_id, event.status.value, event.progress * 100)
