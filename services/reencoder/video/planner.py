"""A video's `JobRequested`: probe the original, check the limits, plan the outputs, fan out tasks."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from services.reencoder.job_outcome import JobAnnouncer
from services.reencoder.scratch import ScratchKind, scratch_folder
from services.reencoder.storage_outages import storage_outages_are_infrastructure
from services.reencoder.video.keys import plan_key
from services.reencoder.video.ladder import plan_ladder, plan_preview, task_weights
from services.reencoder.video.partitioning import spread_keys
from services.reencoder.video.probe import VideoProbe, check_limits, probe_video
from services.reencoder.video.results import JobPlan
from shared.events import (
    VIDEO_TASKS,
    JobRequested,
    JobStatus,
    VideoOutput,
    VideoTaskKind,
    VideoTaskRequested,
)
from shared.kafka import Delivery
from shared.media import MediaRejected
from shared.settings import VideoLimits

log = logging.getLogger(__name__)


def plan_tasks(job: JobRequested, probe: VideoProbe) -> list[VideoTaskRequested]:
    """One task per ladder rung plus one for the previews, keyed to land on different partitions."""
    outputs = plan_ladder(probe.width, probe.height)
    preview = plan_preview(probe.width, probe.height)
    weights = task_weights(outputs, preview)
    work: list[tuple[VideoTaskKind, VideoOutput]] = [(VideoTaskKind.RENDITION, o) for o in outputs]
    work.append((VideoTaskKind.PREVIEW, preview))
    keys = spread_keys(job.job_id, len(work), VIDEO_TASKS.partitions)
    return [
        VideoTaskRequested(
            correlation_id=job.correlation_id,
            job_id=job.job_id,
            task_id=output.name,
            kind=kind,
            output=output,
            source_key=job.source_key,
            duration_s=probe.duration_s,
            frame_rate=probe.frame_rate,
            has_audio=probe.has_audio,
            weight=weights[output.name],
            partition_key=key,
        )
        for (kind, output), key in zip(work, keys, strict=True)
    ]


@dataclass
class VideoJobPlanner:
    announcer: JobAnnouncer
    limits: VideoLimits
    scratch_root: Path | None = None
    ffprobe: str = "ffprobe"

    @storage_outages_are_infrastructure
    async def __call__(self, job: JobRequested, delivery: Delivery) -> None:
        if await self.announcer.announce_if_finished(job.job_id, job.correlation_id):
            log.info("video job %s finished before (redelivery): announced again", job.job_id)
            return
        await self.announcer.report(job.job_id, job.correlation_id, JobStatus.PROCESSING)
        try:
            probe = await self._probe(job)
            check_limits(probe, job.size_bytes, self.limits)
        except MediaRejected as rejected:
            await self.announcer.fail(job.job_id, job.correlation_id, str(rejected))
            return
        tasks = plan_tasks(job, probe)
        store = self.announcer.store
        plan = JobPlan(job_id=job.job_id, tasks=tuple(tasks))
        # The plan is stored before any task exists, so completion always knows the whole job.
        await asyncio.to_thread(
            store.put_json, store.renditions_bucket, plan_key(job.job_id), plan.model_dump(mode="json")
        )
        for task in tasks:
            await self.announcer.producer.publish(VIDEO_TASKS, task)
        log.info(
            "video job %s: %dx%d, %.1f s, %s audio -> tasks %s",
            job.job_id,
            probe.width,
            probe.height,
            probe.duration_s,
            "with" if probe.has_audio else "no",
            ", ".join(task.task_id for task in tasks),
        )

    async def give_up(self, job: JobRequested, reason: str) -> None:
        await self.announcer.fail(
            job.job_id, job.correlation_id, f"internal error, retries exhausted: {reason}"
        )

    async def _probe(self, job: JobRequested) -> VideoProbe:
        store = self.announcer.store
        with scratch_folder(ScratchKind.VIDEO_PROBE, job.job_id, self.scratch_root) as scratch:
            source = Path(scratch) / "original"
            if await asyncio.to_thread(store.stat, store.uploads_bucket, job.source_key) is None:
                raise MediaRejected("the uploaded original is missing from storage")
            await asyncio.to_thread(store.download, store.uploads_bucket, job.source_key, source)
            return await probe_video(source, self.ffprobe)
