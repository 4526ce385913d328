"""The sweeper: no job stays stuck, no original stays without its job.

A loop in every frontend instance, every `interval_s`:

- **Stuck jobs.** A job `queued` whose request was published long ago (`queued_after_s`) that no
  worker took, or `processing` with no status or progress for `processing_after_s` (by default
  twice the video task timeout), is re-queued: its `JobRequested` goes through the outbox again,
  under the same job id (workers are idempotent: a job finished meanwhile is only announced
  again). Each re-queue is logged at WARNING and counted. Once `max_attempts` requests are spent,
  the job fails with the reason, so its owner can retry or delete it. Both are conditional
  UPDATEs: with several frontends sweeping, one of them acts.
- **Orphan originals.** An original whose job row was never written (the insert failed after the
  upload stored it, and the immediate clean-up failed too) is removed once it has been seen
  without a row for `orphan_after_s` (the bucket is listed every `orphan_interval_s`); so are
  renditions a worker stored after their job was deleted.
- **Abandoned direct uploads.** A multipart upload whose client has asked for nothing for
  `DIRECT_UPLOADS_ABANDON_AFTER_S` is aborted (its parts dropped) and its job failed with the
  reason (services/frontend/direct_uploads.py), unless its object turns out to be stored: then
  it is checked and queued like any other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import urllib3.exceptions
from botocore.exceptions import BotoCoreError, ClientError
from minio.error import InvalidResponseError, S3Error, ServerError
from prometheus_client import CollectorRegistry, Counter
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import SQLAlchemyError

from services.frontend.direct_uploads import DirectUploads
from services.frontend.job_store import JobStore, StuckDeadlines
from services.frontend.outbox import OutboxRelay
from shared.database import JobRow
from shared.settings import VideoLimits
from shared.storage import MediaStore

log = logging.getLogger(__name__)


class SweeperSettings(BaseSettings):
    """When a job counts as stuck, and what the sweeper does about it (SWEEPER_*)."""

    model_config = SettingsConfigDict(env_prefix="SWEEPER_")

    #: How often each frontend sweeps.
    interval_s: float = 60.0
    #: A queued job whose request was published this long ago and that no worker took is stuck.
    queued_after_s: float = 600.0
    #: A processing job with no news for this long is stuck; by default twice the video task timeout.
    processing_after_s: float | None = None
    #: Requests of one job in all, the first included; a job stuck after the last one fails.
    max_attempts: int = 3
    #: An original seen without a job row for this long is removed.
    orphan_after_s: float = 1800.0
    #: How often the uploads bucket is listed for such originals (a listing of every object).
    orphan_interval_s: float = 600.0

    def deadlines(self, video: VideoLimits) -> StuckDeadlines:
        processing = self.processing_after_s
        return StuckDeadlines(
            queued_s=self.queued_after_s,
            processing_s=processing if processing is not None else 2 * video.task_timeout_s,
        )


@dataclass(frozen=True)
class SweepReport:
    requeued: int = 0
    failed: int = 0
    orphans_removed: int = 0
    uploads_abandoned: int = 0


def stuck_reason(job: JobRow, deadlines: StuckDeadlines) -> str:
    """What the user reads on a job the sweeper gave up on (only ever one stuck processing)."""
    return (
        f"the job stopped making progress for {deadlines.processing_s / 60:.0f} min, {job.attempts} "
        "times in a row (its worker may have died); retry it, or delete it"
    )


class Sweeper:
    def __init__(
        self,
        jobs: JobStore,
        store: MediaStore,
        outbox: OutboxRelay,
        settings: SweeperSettings,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        direct_uploads: DirectUploads | None = None,
    ) -> None:
        self._jobs = jobs
        self._direct_uploads = direct_uploads
        self._store = store
        self._outbox = outbox
        self._settings = settings
        self._clock = clock
        #: job id -> when its original was first seen without a row.
        self._orphans_seen: dict[str, float] = {}
        self._next_orphan_sweep = clock()
        registry = registry or CollectorRegistry()
        self._requeued = Counter(
            "reencode_jobs_requeued",
            "Stuck jobs asked of the workers again",
            ["status"],
            registry=registry,
        )
        self._given_up = Counter(
            "reencode_jobs_stuck_failed",
            "Stuck jobs failed once their attempts were spent",
            ["status"],
            registry=registry,
        )
        self._orphans = Counter(
            "reencode_orphan_objects_removed",
            "Jobs whose objects were removed because the job has no row (never recorded, or deleted)",
            registry=registry,
        )

    async def run(self) -> None:
        """The sweeper loop, until cancelled; an outage only delays it."""
        while True:
            await asyncio.sleep(self._settings.interval_s)
            try:
                await self.sweep()
            except SQLAlchemyError as error:
                log.warning("sweeper: the database is unavailable, sweeping later: %s", error)

    async def sweep(self) -> SweepReport:
        requeued, failed = await self.sweep_stuck()
        abandoned = await self.sweep_abandoned_uploads()
        if self._clock() < self._next_orphan_sweep:
            return SweepReport(requeued, failed, uploads_abandoned=abandoned)
        self._next_orphan_sweep = self._clock() + self._settings.orphan_interval_s
        try:
            orphans = await self.sweep_orphans()
        except (S3Error, ServerError, InvalidResponseError, urllib3.exceptions.HTTPError) as error:
            log.warning("sweeper: originals not swept, storage unavailable: %r", error)
            orphans = 0
        return SweepReport(requeued, failed, orphans, abandoned)

    async def sweep_abandoned_uploads(self) -> int:
        """Abort direct uploads left idle too long; returns how many."""
        if self._direct_uploads is None:
            return 0
        try:
            abandoned = await asyncio.to_thread(self._direct_uploads.abandon_idle)
        except (BotoCoreError, ClientError, S3Error, ServerError, urllib3.exceptions.HTTPError) as error:
            log.warning("sweeper: abandoned uploads not swept, storage unavailable: %r", error)
            return 0
        self._outbox.wake()  # an idle upload found stored after all was queued
        return abandoned

    async def sweep_stuck(self) -> tuple[int, int]:
        """Re-queue or fail every stuck job; returns (re-queued, failed) by this instance."""
        deadlines = self._jobs.deadlines
        if deadlines is None:
            return 0, 0
        requeued = failed = 0
        for job in await asyncio.to_thread(self._jobs.stuck):
            # A queued job waits on our infrastructure (a backlog, workers down), never on its file: it
            # is asked for again, never failed. A job that stalls while processing, attempt after
            # attempt, is taking its worker down with it: that one fails with the reason.
            if job.status == "processing" and job.attempts >= self._settings.max_attempts:
                reason = stuck_reason(job, deadlines)
                if await asyncio.to_thread(self._jobs.give_up, job, reason):
                    failed += 1
                    self._given_up.labels(job.status).inc()
                    log.warning("job %s was stuck %s; failed it: %s", job.id, job.status, reason)
                continue
            if await asyncio.to_thread(self._jobs.requeue, job) is not None:
                requeued += 1
                self._requeued.labels(job.status).inc()
                log.warning(
                    "job %s was stuck %s since %s: re-queued it (attempt %d of %d)",
                    job.id,
                    job.status,
                    job.updated_at.isoformat(),
                    job.attempts + 1,
                    self._settings.max_attempts,
                )
        if requeued:
            self._outbox.wake()
        return requeued, failed

    async def sweep_orphans(self) -> int:
        """Remove what lies in storage for a job without a row, once seen so for `orphan_after_s`:
        an original whose row was never written, or renditions a worker finished after their job
        was deleted. Returns how many jobs' objects were removed."""
        store = self._store
        by_bucket = {
            bucket: await asyncio.to_thread(store.list_job_ids, bucket)
            for bucket in (store.uploads_bucket, store.renditions_bucket)
        }
        job_ids = set().union(*by_bucket.values())
        rowless = job_ids - await asyncio.to_thread(self._jobs.existing, job_ids)
        now = self._clock()
        self._orphans_seen = {job_id: self._orphans_seen.get(job_id, now) for job_id in rowless}
        removed = 0
        for job_id, first_seen in list(self._orphans_seen.items()):
            if now - first_seen < self._settings.orphan_after_s:
                continue
            count = 0
            for bucket, present in by_bucket.items():
                if job_id in present:
                    count += await asyncio.to_thread(store.remove_prefix, bucket, f"{job_id}/")
            del self._orphans_seen[job_id]
            removed += 1
            self._orphans.inc()
            log.warning(
                "removed %d objects of job %s: the job has no row (never recorded, or deleted)", count, job_id
            )
        return removed
