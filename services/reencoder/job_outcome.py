"""Announcing a job's status on `jobs.status`, and failing a job cleanly (images and every video step)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from services.reencoder.renditions import manifest_key
from services.reencoder.video.keys import failed_marker_key
from shared.events import JOBS_STATUS, JobStatus, JobStatusChanged, Rendition
from shared.kafka import EventProducer
from shared.storage import MediaStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobAnnouncer:
    store: MediaStore
    producer: EventProducer
    worker_id: str

    async def report(
        self,
        job_id: str,
        correlation_id: str,
        status: JobStatus,
        *,
        progress: float = 0.0,
        error: str | None = None,
        renditions: tuple[Rendition, ...] = (),
    ) -> None:
        """Announce a status and wait until Kafka has it: for the outcomes the user is promised."""
        await self.producer.publish(
            JOBS_STATUS,
            self.status_event(
                job_id, correlation_id, status, progress=progress, error=error, renditions=renditions
            ),
        )

    def status_event(
        self,
        job_id: str,
        correlation_id: str,
        status: JobStatus,
        *,
        progress: float = 0.0,
        error: str | None = None,
        renditions: tuple[Rendition, ...] = (),
    ) -> JobStatusChanged:
        return JobStatusChanged(
            correlation_id=correlation_id,
            job_id=job_id,
            status=status,
            progress=progress,
            error=error,
            renditions=renditions,
            worker_id=self.worker_id,
        )

    async def announce_if_finished(self, job_id: str, correlation_id: str) -> bool:
        """Re-announce a job that finished before (a redelivery); True if it had.

        Both markers lie at the top of the job's prefix: one LIST of that level (not recursive, so
        a video job's many segments are not listed) answers the common case, a first delivery with
        neither, in one storage call instead of two GETs; only a marker that exists is then read.
        The manifest wins over the failed marker, as it does in `fail`.
        """
        bucket = self.store.renditions_bucket
        present = await asyncio.to_thread(self.store.top_level_keys, bucket, f"{job_id}/")
        if manifest_key(job_id) in present:
            manifest = await asyncio.to_thread(self.store.get_json, bucket, manifest_key(job_id))
            if manifest is not None:
                await self._announce_done(job_id, correlation_id, manifest)
                return True
        if failed_marker_key(job_id) in present:
            failed = await asyncio.to_thread(self.store.get_json, bucket, failed_marker_key(job_id))
            if failed is not None:
                await self.report(job_id, correlation_id, JobStatus.FAILED, error=str(failed["reason"]))
                return True
        return False

    async def _announce_done(self, job_id: str, correlation_id: str, manifest: Any) -> None:
        renditions = tuple(Rendition.model_validate(item) for item in manifest["renditions"])
        await self.report(job_id, correlation_id, JobStatus.DONE, progress=1.0, renditions=renditions)

    async def fail(self, job_id: str, correlation_id: str, reason: str) -> None:
        """Mark the job failed (so its other tasks stop), remove its partial outputs, tell the user.

        A job some attempt finished (its manifest, written last, exists) is never failed and its
        outputs never removed: it is announced done again instead.
        """
        bucket = self.store.renditions_bucket
        done = await asyncio.to_thread(self.store.get_json, bucket, manifest_key(job_id))
        if done is not None:
            log.info("job %s is done: not failing it (%s)", job_id, reason)
            await self._announce_done(job_id, correlation_id, done)
            return
        marker = failed_marker_key(job_id)
        await asyncio.to_thread(self.store.put_json, bucket, marker, {"job_id": job_id, "reason": reason})
        removed = await asyncio.to_thread(remove_outputs, self.store, f"{job_id}/", keep=marker)
        log.info("job %s failed (%d partial outputs removed): %s", job_id, removed, reason)
        await self.report(job_id, correlation_id, JobStatus.FAILED, error=reason)


def remove_outputs(store: MediaStore, prefix: str, keep: str | None = None) -> int:
    """Delete every rendition object under `prefix` except `keep`; returns how many were deleted."""
    keys = [key for key in store.list_keys(store.renditions_bucket, prefix) if key != keep]
    for key in keys:
        store.remove_prefix(store.renditions_bucket, key)
    return len(keys)
