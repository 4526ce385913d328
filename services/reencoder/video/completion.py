"""`video.tasks.finished`, keyed by job: fail the job at its first failed task, or finish it when the
last task is done (write the HLS master playlist and the manifest, announce the renditions).

One consumer sees all of a job's results in order (they share a partition), and every effect is
idempotent: the markers in storage, not memory, say which tasks are done, so a redelivered result or
a restarted worker reaches the same answer.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass

from services.reencoder.job_outcome import JobAnnouncer
from services.reencoder.renditions import manifest_key
from services.reencoder.storage_outages import storage_outages_are_infrastructure
from services.reencoder.video import keys
from services.reencoder.video.hls import master_playlist
from services.reencoder.video.results import JobPlan, TaskResult
from shared.events import JobStatus, Rendition, VideoTaskFinished
from shared.kafka import Delivery
from shared.media import HLS_CONTENT_TYPES

log = logging.getLogger(__name__)

HLS_RENDITION = "hls"


@dataclass
class VideoJobCompletion:
    announcer: JobAnnouncer

    @storage_outages_are_infrastructure
    async def __call__(self, finished: VideoTaskFinished, delivery: Delivery) -> None:
        job_id, correlation_id = finished.job_id, finished.correlation_id
        if await self._is_settled(job_id):
            return
        if not finished.ok:
            await self.announcer.fail(job_id, correlation_id, finished.error or "a video task failed")
            return
        results = await self._results(job_id)
        if results is None:
            return  # tasks still running
        renditions = await asyncio.to_thread(self._write_outputs, job_id, results)
        log.info("video job %s: done, %d renditions", job_id, len(renditions))
        await self.announcer.report(
            job_id, correlation_id, JobStatus.DONE, progress=1.0, renditions=renditions
        )

    async def give_up(self, finished: VideoTaskFinished, reason: str) -> None:
        """Completion keeps failing (storage down?): fail the job rather than leave it running forever."""
        await self.announcer.fail(
            finished.job_id, finished.correlation_id, f"internal error, retries exhausted: {reason}"
        )

    async def _is_settled(self, job_id: str) -> bool:
        store = self.announcer.store
        for key in (manifest_key(job_id), keys.failed_marker_key(job_id)):
            if await asyncio.to_thread(store.stat, store.renditions_bucket, key) is not None:
                return True
        return False

    async def _results(self, job_id: str) -> list[TaskResult] | None:
        """Every task's result, or None while any task is not done."""
        store = self.announcer.store
        plan_doc = await asyncio.to_thread(store.get_json, store.renditions_bucket, keys.plan_key(job_id))
        if plan_doc is None:
            return None
        results = []
        for task in JobPlan.model_validate(plan_doc).tasks:
            marker_key = keys.task_marker_key(job_id, task.task_id)
            marker = await asyncio.to_thread(store.get_json, store.renditions_bucket, marker_key)
            if marker is None:
                return None
            results.append(TaskResult.model_validate(marker))
        return results

    def _write_outputs(self, job_id: str, results: list[TaskResult]) -> tuple[Rendition, ...]:
        """The master playlist, then the manifest (last: its presence means the job is complete)."""
        store = self.announcer.store
        variants = [result.variant for result in results if result.variant is not None]
        playlist = master_playlist(
            variants, {v.name: f"{HLS_RENDITION}/{v.name}/index.m3u8" for v in variants}
        ).encode()
        master_key = keys.master_playlist_key(job_id)
        store.put_stream(
            store.renditions_bucket,
            master_key,
            io.BytesIO(playlist),
            len(playlist),
            HLS_CONTENT_TYPES[".m3u8"],
        )
        largest = max(variants, key=lambda v: v.width * v.height)
        hls = Rendition(
            name=HLS_RENDITION,
            content_type=HLS_CONTENT_TYPES[".m3u8"],
            width=largest.width,
            height=largest.height,
            bytes=len(playlist),
            key=master_key,
        )
        renditions = (*(r for result in results for r in result.renditions), hls)
        store.put_json(
            store.renditions_bucket,
            manifest_key(job_id),
            {"job_id": job_id, "renditions": [r.model_dump() for r in renditions]},
        )
        return renditions
