"""`jobs.requested` carries images and videos: each goes to the handler of its kind."""

from __future__ import annotations

from dataclasses import dataclass

from services.reencoder.job_handler import ImageJobHandler
from services.reencoder.video.planner import VideoJobPlanner
from shared.events import JobRequested, MediaKind
from shared.kafka import Delivery, PermanentError
from shared.storage import belongs_to_job


@dataclass
class JobRouter:
    image: ImageJobHandler
    video: VideoJobPlanner

    async def __call__(self, job: JobRequested, delivery: Delivery) -> None:
        if not belongs_to_job(job.job_id, job.source_key):
            # Only a forged or broken request names another job's original: never encode it into this one.
            raise PermanentError(f"source {job.source_key!r} lies outside job {job.job_id}")
        if job.kind == MediaKind.VIDEO:
            await self.video(job, delivery)
        else:
            await self.image(job, delivery)

    async def give_up(self, job: JobRequested, reason: str) -> None:
        if job.kind == MediaKind.VIDEO:
            await self.video.give_up(job, reason)
        else:
            await self.image.give_up(job, reason)
