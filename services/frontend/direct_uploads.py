"""Direct, resumable uploads: the frontend decides and signs, clients send the bytes to storage.

1. `start`: the caller, the declared kind's size limit, their quota and open uploads are checked
   before anything exists; then an S3 multipart upload of `<job_id>/original` is created and the job
   recorded as `uploading` (the key is built here from a fresh job id: a client never names a key).
2. The client asks for presigned part URLs (`sign`) and PUTs the parts to storage itself, several at
   a time (in parts of `part_size` bytes, or of its own size down to S3's 5 MiB minimum); each URL
   has its part's length signed in, so storage takes no more than the size declared at `start`;
   `parts` lists what is stored already, so a client that lost its state resumes.
3. The object is assembled by the client's `complete` (which asks storage to complete the upload),
   and storage announces it on `storage.events`; either one calls `finish`, which checks the stored
   object (its first bytes, by ranged reads, and its real size against the limits and the quota)
   and queues the job, conditionally on it still being `uploading`: whichever comes first queues
   it, the other is a no-op. A refused object is deleted and its job fails with the reason.
4. An upload whose client has not asked for anything for `abandon_after_s` is aborted by the
   sweeper (`abandon_idle`), its job failed.

All methods are blocking (SDK and database calls): async callers use `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.frontend.job_store import JobStore
from services.frontend.media_check import identify_media
from services.frontend.upload_rules import UploadRefused, check_filename, check_quota, check_size, limit_for
from shared.database import JobRow
from shared.events import JobRequested, JobStatus, MediaKind, new_id, utc_now
from shared.media import MediaRejected
from shared.multipart import (
    MAX_PART_BYTES,
    MAX_PARTS,
    MIN_PART_BYTES,
    PartsRefused,
    StoredPart,
    UploadGone,
    part_plan,
)
from shared.settings import MediaLimits, VideoLimits
from shared.storage import MediaStore

log = logging.getLogger(__name__)


class DirectUploadSettings(BaseSettings):
    """Direct multipart uploads to storage (DIRECT_UPLOADS_*)."""

    model_config = SettingsConfigDict(env_prefix="DIRECT_UPLOADS_")

    #: Preferred part size (S3's minimum is 5 MiB; larger for files that would need over 10 000 parts).
    part_bytes: int = 8 * 1024 * 1024
    #: Part URLs one request may ask for.
    max_urls_per_request: int = 100
    #: How long a presigned part URL stays valid: enough to send one part on a slow link.
    url_expiry_s: int = 900
    #: An upload whose client asked for nothing for this long is aborted and its job failed.
    abandon_after_s: float = 24 * 3600.0
    #: Uploads a user may have open (created, not completed) at once.
    open_per_user: int = 10


@dataclass(frozen=True)
class StartedUpload:
    job_id: str
    key: str
    part_size: int
    part_count: int


class DirectUploads:
    def __init__(
        self,
        store: MediaStore,
        jobs: JobStore,
        limits: MediaLimits,
        video: VideoLimits,
        settings: DirectUploadSettings,
        stored_bytes: Callable[[str], int],
        quota_bytes: int,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.limits = limits
        self.video = video
        self.settings = settings
        self._stored_bytes = stored_bytes
        self._quota = quota_bytes

    # --- the client's calls ----------------------------------------------------------------------

    def start(
        self, user_id: str, filename: str, size: int, content_type: str, correlation_id: str
    ) -> StartedUpload:
        """Decide, then create the multipart upload and the job. Raises `UploadRefused`."""
        check_filename(filename)
        kind = _declared_kind(content_type)
        check_size(size, limit_for(kind, "", self.limits.max_upload_bytes, self.video.max_upload_bytes))
        check_quota(self._stored_bytes(user_id), self._quota, size)
        if self.jobs.uploading_count(user_id) >= self.settings.open_per_user:
            raise UploadRefused(
                429,
                f"you already have {self.settings.open_per_user} uploads under way; "
                "finish or cancel one first",
            )
        job_id = new_id()
        request = JobRequested(
            correlation_id=correlation_id,
            job_id=job_id,
            kind=MediaKind(kind),
            source_key=f"{job_id}/original",
            filename=filename,
            content_type=content_type,
            size_bytes=size,
            user_id=user_id,
        )
        multipart = self.store.multipart
        upload_id = multipart.create(request.source_key, content_type)
        try:
            self.jobs.create_uploading(request, upload_id)
        except BaseException:
            multipart.abort(request.source_key, upload_id)
            raise
        part_size, part_count = part_plan(size, self.settings.part_bytes)
        log.info(
            "job %s: direct upload of %s (%d bytes, %d parts) started", job_id, filename, size, part_count
        )
        return StartedUpload(job_id, request.source_key, part_size, part_count)

    def parts(self, job: JobRow) -> list[StoredPart]:
        upload_id = _open_upload(job)
        try:
            return self.store.multipart.list_parts(job.source_key, upload_id)
        except UploadGone as gone:
            raise UploadRefused(
                409, "this upload is no longer open (completed, cancelled or expired)"
            ) from gone

    def sign(self, job: JobRow, part_numbers: list[int], part_size: int | None = None) -> dict[int, str]:
        """Presigned PUT URLs for the parts named, each within the file's part count. Clients may
        cut the file in parts of their own size (`part_size`; the planned one by default): each URL
        is signed for its part's exact length, so storage refuses a larger (or smaller) part and the
        stored file cannot outgrow its declared size."""
        upload_id = _open_upload(job)
        most = self.settings.max_urls_per_request
        if not part_numbers or len(part_numbers) > most:
            raise UploadRefused(400, f"ask for 1 to {most} parts at a time")
        size = job.size_bytes
        if part_size is None:
            part_size = part_plan(size, self.settings.part_bytes)[0]
        count = part_count_for(size, part_size)
        outside = [n for n in part_numbers if not 1 <= n <= count]
        if outside:
            raise UploadRefused(400, f"part numbers go from 1 to {count} for this file, not {outside[0]}")
        self.jobs.touch_upload(job.id)
        expiry = self.settings.url_expiry_s
        presign = self.store.multipart.presign_part
        return {
            n: presign(job.source_key, upload_id, n, expiry, part_length(size, part_size, n))
            for n in part_numbers
        }

    def complete(self, job: JobRow, parts: list[tuple[int, str]]) -> None:
        """Assemble the object from the parts, then check and queue it (unless storage's notification
        did already). Completing again is harmless."""
        if job.status != JobStatus.UPLOADING or job.upload_id is None:
            return  # already completed (by an earlier call): its notification or `finish` queued it
        if not parts:
            raise UploadRefused(400, "name the parts to assemble: [{part_number, etag}, ...]")
        try:
            self.store.multipart.complete(job.source_key, job.upload_id, parts)
        except PartsRefused as refused:
            raise UploadRefused(400, f"storage refused these parts: {refused}") from refused
        except UploadGone:
            # A retried `complete` whose first answer was lost finds the object already assembled.
            if self.store.stat(self.store.uploads_bucket, job.source_key) is None:
                raise UploadRefused(409, "this upload is no longer open (cancelled or expired)") from None
        self.finish(job.id)

    def abort(self, job: JobRow) -> None:
        """Cancel an upload under way: its parts and its job go."""
        if job.status != JobStatus.UPLOADING:
            raise UploadRefused(409, "this upload is complete; delete its job with DELETE /api/jobs/{job_id}")
        if job.upload_id is not None:
            self.store.multipart.abort(job.source_key, job.upload_id)
        self.jobs.delete(job.id)
        self.store.remove_prefix(self.store.uploads_bucket, f"{job.id}/")
        log.info("job %s: direct upload cancelled by its owner", job.id)

    # --- the stored object -----------------------------------------------------------------------

    def finish(self, job_id: str) -> JobRequested | None:
        """Check the stored original of an `uploading` job and queue it, or delete it and fail the
        job with the reason. None when there is nothing to do (not uploading, not stored yet, or
        queued meanwhile by the other caller)."""
        job = self.jobs.get(job_id)
        if job is None or job.status != JobStatus.UPLOADING:
            return None
        bucket = self.store.uploads_bucket
        stored = self.store.stat(bucket, job.source_key)
        if stored is None:
            return None
        try:
            kind, content_type = self._check(job, stored.size)
        except (UploadRefused, MediaRejected) as refused:
            reason = refused.detail if isinstance(refused, UploadRefused) else str(refused)
            self.store.remove(bucket, job.source_key)
            if self.jobs.fail_upload(job_id, f"upload refused: {reason}"):
                log.warning("job %s: stored original refused and deleted: %s", job_id, reason)
            return None
        request = self.jobs.queue_uploaded(job_id, kind, content_type, stored.size)
        if request is not None:
            log.info(
                "job %s recorded, queueing it: %s (%s, %d bytes)",
                job_id,
                job.filename,
                content_type,
                stored.size,
            )
        return request

    def _check(self, job: JobRow, size: int) -> tuple[MediaKind, str]:
        """What the stored bytes are (ranged reads of their headers), within the limits and quota."""
        assert job.owner_id is not None
        with self.store.open_ranged(self.store.uploads_bucket, job.source_key, size) as file:
            kind, content_type = identify_media(file, size, self.limits, self.video)
        # The job's declared size is already counted among the owner's stored bytes.
        others = self._stored_bytes(job.owner_id) - job.size_bytes
        check_quota(others, self._quota, size)
        return kind, content_type

    # --- the sweeper -----------------------------------------------------------------------------

    def abandon_idle(self) -> int:
        """Abort the uploads nobody has sent anything for since `abandon_after_s`; fail their jobs.
        Returns how many were abandoned."""
        idle_since = utc_now() - timedelta(seconds=self.settings.abandon_after_s)
        abandoned = 0
        for job in self.jobs.abandoned_uploads(idle_since):
            # Its bytes may be complete, with the notification lost: then it is queued, not dropped.
            if self.finish(job.id) is not None:
                continue
            if job.upload_id is not None:
                self.store.multipart.abort(job.source_key, job.upload_id)
            reason = f"upload abandoned: nothing was sent for {self.settings.abandon_after_s / 3600:.0f} h"
            if self.jobs.fail_upload(job.id, reason):
                self.store.remove_prefix(self.store.uploads_bucket, f"{job.id}/")
                abandoned += 1
                log.warning("job %s: %s; its upload was aborted", job.id, reason)
        return abandoned


def _declared_kind(content_type: str) -> str:
    """The kind the client declares by the file's type; the stored bytes confirm it later."""
    major = content_type.strip().lower().partition("/")[0]
    if major not in ("image", "video"):
        raise UploadRefused(
            415, f"content_type must be an image/... or video/... type, not {content_type[:60]!r}"
        )
    return major


def part_count_for(size: int, part_size: int) -> int:
    """How many parts of `part_size` bytes make a file of `size`; refuses sizes storage would."""
    count = max(1, -(-size // max(1, part_size)))
    if count > 1 and part_size < MIN_PART_BYTES:
        raise UploadRefused(400, f"part_size must be at least {MIN_PART_BYTES} bytes (5 MiB) for this file")
    if not 0 < part_size <= MAX_PART_BYTES or count > MAX_PARTS:
        raise UploadRefused(
            400,
            f"part_size {part_size} cuts this file in {count} parts; parts go up to {MAX_PART_BYTES} bytes "
            f"and a file has at most {MAX_PARTS}",
        )
    return count


def part_length(size: int, part_size: int, number: int) -> int:
    """The length of part `number` (from 1) of a `size`-byte file cut in parts of `part_size`."""
    return min(part_size, size - (number - 1) * part_size)


def _open_upload(job: JobRow) -> str:
    if job.status != JobStatus.UPLOADING or job.upload_id is None:
        raise UploadRefused(409, "this upload is no longer open (completed, cancelled or expired)")
    return job.upload_id
