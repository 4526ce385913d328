"""`jobs.requested` carries images and videos: each goes to the handler of its kind."""

from __future__ import annotations

from dataclasses import dataclass

from services.reencoder.job_handler import ImageJobHandler
from services.reencoder.video.planner import VideoJobPlanner
from shared.events import JobRequested, MediaKind
from shared.kafka import Delivery


@dataclass
class JobRouter:
    image: ImageJobHandler
    video: VideoJobPlanner

    async def __call__(self, job: JobRequested, delivery: Delivery) -> None:
        if job.kind == MediaKind.VIDEO:
            await self.video(job, delivery)
        else:
            await self.image(job, delivery)

    async def give_up(self, job: JobRequested, reason: str) -> None:
        if job.kind == MediaKind.VIDEO:
            await self.video.give_up(job, reason)
        else:
            await self.image.give_up(job, reason)
