"""Handling one `JobRequested`: download the original, encode, store the renditions, report.

Idempotent by construction: object keys are derived from the job id, and the manifest is written
last. A redelivered job whose manifest exists is only announced again, never encoded twice. Two
attempts at once (a second worker after a rebalance) never undo each other: the later one checks the
manifest before uploading, and one that fails while the other finished announces the job done.

Storage calls per job (each is a `storage.audit` record, issue #18): one LIST (finished before?),
one GET of the original, one stat of the manifest (a late duplicate?), then one PUT per rendition
and the manifest's PUT.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from services.reencoder.image_encoder import EncodedFile, encode_image
from services.reencoder.job_outcome import JobAnnouncer
from services.reencoder.metrics import IMAGE_RUNG
from services.reencoder.pool import EncoderDied, EncoderPool, EncodingTimedOut
from services.reencoder.renditions import manifest_key, rendition_key
from services.reencoder.scratch import ScratchKind, scratch_folder
from services.reencoder.storage_outages import storage_outages_are_infrastructure
from services.reencoder.timing import PhaseTimer, TimingReporter
from shared.events import JOBS_STATUS, JobRequested, JobStatus, Rendition, WorkKind, WorkOutcome
from shared.kafka import Delivery
from shared.media import MediaRejected
from shared.storage import MediaStore

log = logging.getLogger(__name__)

#: An image job reports its steps' progress only once it has been busy this long (seconds).
PROGRESS_AFTER_S = 1.0


class DoneElsewhere(Exception):
    """Another attempt at the same job finished it while this one ran."""


def describe_encoder_death(error: EncoderDied | MemoryError) -> str:
    """Why the encoder died, for the user. Running out of memory is taken to be about the file: the
    size limits let it through, but decoding it needs more memory than a worker has (an image
    dense or large like a decompression bomb), and a retry would only be killed again."""
    if isinstance(error, MemoryError) or error.killed_by_system:
        return (
            "the encoder ran out of memory (killed by the system) while decoding this image: "
            "it needs more memory than a worker has; try a smaller image"
        )
    return f"{error} while decoding this image; it may be damaged"


@dataclass
class ImageJobHandler:
    announcer: JobAnnouncer
    pool: EncoderPool
    max_pixels: int
    job_timeout_s: float
    timings: TimingReporter
    scratch_root: Path | None = None

    @property
    def store(self) -> MediaStore:
        return self.announcer.store

    @storage_outages_are_infrastructure
    async def __call__(self, job: JobRequested, delivery: Delivery) -> None:
        if await self.announcer.announce_if_finished(job.job_id, job.correlation_id):
            log.info("job %s was finished before (redelivery): announced it again", job.job_id)
            return

        log.info("job %s: started (attempt %d)", job.job_id, delivery.attempt)
        timer = PhaseTimer()
        self._progress(job, 0.0)
        busy = self.timings.metrics.busy(WorkKind.IMAGE)
        with busy, scratch_folder(ScratchKind.IMAGE_JOB, job.job_id, self.scratch_root) as scratch:
            try:
                renditions = await self._encode_and_store(job, Path(scratch), timer)
            except DoneElsewhere:
                log.info("job %s was finished by another attempt meanwhile", job.job_id)
                await self.announcer.announce_if_finished(job.job_id, job.correlation_id)
                return
            except MediaRejected as rejected:
                log.info("job %s: input refused: %s", job.job_id, rejected)
                await self._fail(job, timer, str(rejected))
                return
            except EncodingTimedOut:
                await self._fail(
                    job, timer, f"encoding took longer than the {self.job_timeout_s:.0f} s limit"
                )
                return
            except (EncoderDied, MemoryError) as died:
                reason = describe_encoder_death(died)
                log.warning("job %s: %s", job.job_id, reason)
                await self._fail(job, timer, reason)
                return
        log.info("job %s: done, %d renditions", job.job_id, len(renditions))
        # Timed before the final report, so that a reader who sees the job done finds its timing too.
        await self._timed(job, timer, WorkOutcome.DONE)
        await self._report(job, JobStatus.DONE, progress=1.0, renditions=renditions)

    async def give_up(self, job: JobRequested, reason: str) -> None:
        """Retries are exhausted: the user sees the job failed instead of waiting forever (unless
        another attempt finished it meanwhile)."""
        if await self.announcer.announce_if_finished(job.job_id, job.correlation_id):
            return
        self.timings.metrics.given_up.labels(WorkKind.IMAGE.value).inc()
        await self._report(job, JobStatus.FAILED, error=f"internal error, retries exhausted: {reason}")

    async def _fail(self, job: JobRequested, timer: PhaseTimer, reason: str) -> None:
        """This attempt failed; the job fails unless another attempt (a duplicate after a rebalance)
        finished it, whose outcome stands."""
        if await self.announcer.announce_if_finished(job.job_id, job.correlation_id):
            log.info("job %s: failed here (%s), done elsewhere", job.job_id, reason)
            return
        await self._timed(job, timer, WorkOutcome.FAILED)
        await self._report(job, JobStatus.FAILED, error=reason)

    async def _encode_and_store(
        self, job: JobRequested, scratch: Path, timer: PhaseTimer
    ) -> tuple[Rendition, ...]:
        source = scratch / "original"
        with timer.phase("download"):
            # One GET: a missing original is its answer, no stat asked first.
            found = await asyncio.to_thread(
                self.store.download_if_exists, self.store.uploads_bucket, job.source_key, source
            )
            if not found:
                raise MediaRejected("the uploaded original is missing from storage")
        timer.bytes_in = source.stat().st_size
        self._progress_if_slow(job, 0.1, timer)

        with timer.phase("encode"):
            encoded = await self.pool.run(
                encode_image,
                source,
                scratch / "out",
                self.max_pixels,
                job.content_type,  # decoded only as what the upload check identified
                timeout_s=self.job_timeout_s,
            )
        self._progress_if_slow(job, 0.6, timer)

        # A late duplicate never overwrites renditions the site may already be serving.
        if await asyncio.to_thread(self.store.stat, self.store.renditions_bucket, manifest_key(job.job_id)):
            raise DoneElsewhere(job.job_id)
        with timer.phase("upload"):
            renditions = tuple([await self._store_rendition(job, file) for file in encoded])
            await asyncio.to_thread(
                self.store.put_json,
                self.store.renditions_bucket,
                manifest_key(job.job_id),
                {"job_id": job.job_id, "renditions": [r.model_dump() for r in renditions]},
            )
        timer.bytes_out = sum(rendition.bytes for rendition in renditions)
        return renditions

    async def _timed(self, job: JobRequested, timer: PhaseTimer, outcome: WorkOutcome) -> None:
        await self.timings.report(
            timer,
            correlation_id=job.correlation_id,
            job_id=job.job_id,
            task_id=None,
            kind=WorkKind.IMAGE,
            requested_at=job.occurred_at,
            outcome=outcome,
            rung=IMAGE_RUNG,
        )

    async def _store_rendition(self, job: JobRequested, file: EncodedFile) -> Rendition:
        key = rendition_key(job.job_id, file.spec)
        await asyncio.to_thread(
            self.store.put_file,
            self.store.renditions_bucket,
            key,
            file.path,
            file.spec.content_type,
        )
        return Rendition(
            name=file.spec.name,
            content_type=file.spec.content_type,
            width=file.width,
            height=file.height,
            bytes=file.bytes,
            key=key,
        )

    def _progress_if_slow(self, job: JobRequested, fraction: float, timer: PhaseTimer) -> None:
        """A step's progress, only once the job has taken `PROGRESS_AFTER_S`: most photos are done
        in a fraction of a second, where steps nobody can see cost two status events each (issue
        #18). The start (0.0: processing, by which worker) and the end are always reported."""
        if sum(timer.seconds.values()) >= PROGRESS_AFTER_S:
            self._progress(job, fraction)

    def _progress(self, job: JobRequested, fraction: float) -> None:
        """Best effort, in the background: a Kafka hiccup never fails (or holds up) the encode."""
        event = self.announcer.status_event(
            job.job_id, job.correlation_id, JobStatus.PROCESSING, progress=fraction
        )
        self.timings.reports.send(JOBS_STATUS, event)

    async def _report(
        self,
        job: JobRequested,
        status: JobStatus,
        *,
        progress: float = 0.0,
        error: str | None = None,
        renditions: tuple[Rendition, ...] = (),
    ) -> None:
        await self.announcer.report(
            job.job_id, job.correlation_id, status, progress=progress, error=error, renditions=renditions
        )
