"""Turns the workers' `video.progress` events (one per running task) into each job's progress.

A job's events share a partition, so one frontend instance sees all of them; it keeps the latest
fraction of each task in memory and records the weighted sum. The database never moves progress
backwards, so a partition moving to another instance (which starts from nothing) does no harm.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from services.frontend.job_store import JobStore
from shared.events import JobStatus, JobStatusChanged, VideoTaskProgress
from shared.kafka import Delivery

log = logging.getLogger(__name__)

#: Progress stops short of 1: only the job's DONE event (with its renditions) completes it.
MAX_RUNNING_PROGRESS = 0.99


def job_progress(tasks: dict[str, tuple[float, float]]) -> float:
    """The job's progress from its tasks' (weight, fraction); tasks not heard from yet count as 0."""
    return min(MAX_RUNNING_PROGRESS, sum(weight * fraction for weight, fraction in tasks.values()))


class ProgressRecorder:
    def __init__(self, jobs: JobStore, max_jobs: int = 10_000) -> None:
        self._jobs = jobs
        self._max_jobs = max_jobs
        #: job id -> task id -> (weight, fraction); the least recently heard-from jobs are forgotten.
        self._tasks: OrderedDict[str, dict[str, tuple[float, float]]] = OrderedDict()

    async def __call__(self, event: VideoTaskProgress, delivery: Delivery) -> None:
        tasks = self._tasks.setdefault(event.job_id, {})
        self._tasks.move_to_end(event.job_id)
        while len(self._tasks) > self._max_jobs:
            self._tasks.popitem(last=False)
        tasks[event.task_id] = (event.weight, event.fraction)
        update = JobStatusChanged(
            correlation_id=event.correlation_id,
            job_id=event.job_id,
            status=JobStatus.PROCESSING,
            progress=job_progress(tasks),
            worker_id=event.worker_id,
        )
        await asyncio.to_thread(self._jobs.apply, update)
