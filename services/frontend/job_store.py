"""The jobs table: created by uploads, advanced by the workers' status events.

A job and its request to the workers (`JobRequested` in the outbox) are written in one transaction,
so a process that dies after the commit loses nothing: the outbox relay publishes the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, Engine, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from services.frontend.outbox import outbox_record
from shared.database import JobRow, OutboxRow, RenditionRow
from shared.events import JOBS_REQUESTED, JobRequested, JobStatus, JobStatusChanged, MediaKind, utc_now


@dataclass(frozen=True)
class JobPage:
    jobs: list[JobRow]
    total: int


def should_apply(current: JobStatus, current_progress: float, incoming: JobStatusChanged) -> bool:
    """Whether a status event moves a job forward.

    Terminal states are final, so a redelivered or late event (say from a worker that lost its
    partition in a rebalance) never turns a finished job back into a running one.
    """
    if current.is_terminal:
        return False
    if incoming.status == JobStatus.PROCESSING and current == JobStatus.PROCESSING:
        return incoming.progress >= current_progress
    return incoming.status != JobStatus.QUEUED


@dataclass(frozen=True)
class StuckDeadlines:
    """How long a job may wait without news before it counts as stuck."""

    #: Queued, its request published (or re-published) this long ago, and no worker took it.
    queued_s: float
    #: Processing, and no status or progress heard for this long.
    processing_s: float

    def cutoff(self, status: JobStatus, now: datetime) -> datetime | None:
        """Jobs in `status` last changed before this are stuck; None for a status that never is."""
        if status == JobStatus.QUEUED:
            return now - timedelta(seconds=self.queued_s)
        if status == JobStatus.PROCESSING:
            return now - timedelta(seconds=self.processing_s)
        return None


def request_of(job: JobRow) -> JobRequested:
    """The job's request to the workers, rebuilt from its row (same job id: workers are idempotent)."""
    return JobRequested(
        correlation_id=job.correlation_id,
        job_id=job.id,
        kind=MediaKind(job.kind),
        source_key=job.source_key,
        filename=job.filename,
        content_type=job.content_type,
        size_bytes=job.size_bytes,
        user_id=job.owner_id,
    )


class JobStore:
    def __init__(self, engine: Engine, deadlines: StuckDeadlines | None = None) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        #: None: no job ever counts as stuck (delete and retry wait for a final state).
        self.deadlines = deadlines

    def create(self, request: JobRequested, retries: int = 0) -> JobRow:
        """The job's row and its `JobRequested` in the outbox, committed together (or neither).
        `retries`: how many retries led to it (a retry's new job starts from its parent's count)."""
        job = _row(request, JobStatus.QUEUED, retries=retries)
        with self._sessions.begin() as session:
            session.add(job)
            session.add(outbox_record(JOBS_REQUESTED, request, job_id=request.job_id))
        return job

    def get(self, job_id: str, owner_id: str | None = None) -> JobRow | None:
        """The job, if it exists and (when `owner_id` is given) belongs to that user."""
        query = select(JobRow).where(JobRow.id == job_id).options(selectinload(JobRow.renditions))
        if owner_id is not None:
            query = query.where(JobRow.owner_id == owner_id)
        with self._sessions() as session:
            return session.scalar(query)

    def page(self, limit: int, offset: int, owner_id: str | None = None) -> JobPage:
        """Newest first; only `owner_id`'s jobs when given."""
        owned = (JobRow.owner_id == owner_id,) if owner_id is not None else ()
        with self._sessions() as session:
            jobs = session.scalars(
                select(JobRow)
                .where(*owned)
                .options(selectinload(JobRow.renditions))
                .order_by(JobRow.created_at.desc(), JobRow.id)
                .limit(limit)
                .offset(offset)
            ).all()
            total = session.scalar(select(func.count()).select_from(JobRow).where(*owned)) or 0
        return JobPage(list(jobs), total)

    def delete(self, job_id: str) -> bool:
        """Remove the job, its renditions' rows and its unsent requests; False when it was already gone."""
        with self._sessions.begin() as session:
            job = session.get(JobRow, job_id)
            if job is None:
                return False
            session.delete(job)
            session.execute(delete(OutboxRow).where(OutboxRow.job_id == job_id, OutboxRow.sent_at.is_(None)))
            return True

    def existing(self, job_ids: Iterable[str]) -> set[str]:
        """Which of `job_ids` have a row."""
        wanted, found = list(job_ids), set[str]()
        with self._sessions() as session:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                found.update(session.scalars(select(JobRow.id).where(JobRow.id.in_(chunk))))
        return found

    # --- jobs nobody finishes -------------------------------------------------------------------

    def is_stuck(self, job: JobRow, now: datetime | None = None) -> bool:
        """Unfinished, and without news for longer than its status's deadline."""
        if self.deadlines is None:
            return False
        cutoff = self.deadlines.cutoff(JobStatus(job.status), now or utc_now())
        return cutoff is not None and _aware(job.updated_at) < cutoff

    def stuck(self, limit: int = 100, now: datetime | None = None) -> list[JobRow]:
        """Jobs the sweeper should re-queue or fail, oldest first."""
        if self.deadlines is None:
            return []
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(JobRow)
                    .where(self._stuck(now or utc_now()))
                    .order_by(JobRow.updated_at)
                    .limit(limit)
                )
            )

    def requeue(self, job: JobRow, now: datetime | None = None) -> JobRequested | None:
        """Ask the workers again (through the outbox) for a job that is still stuck as `job` saw it.

        A conditional UPDATE: when two frontends sweep at once, or the job moved meanwhile, only the
        one whose update matched re-queues it; the others get None.
        """
        now = now or utc_now()
        request = request_of(job)
        with self._sessions.begin() as session:
            changed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(JobRow)
                .where(JobRow.id == job.id, JobRow.attempts == job.attempts, self._stuck(now))
                .values(
                    status=JobStatus.QUEUED.value,
                    progress=0.0,
                    error=None,
                    attempts=JobRow.attempts + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if changed.rowcount != 1:
                return None
            session.add(outbox_record(JOBS_REQUESTED, request, job_id=job.id))
        return request

    def give_up(self, job: JobRow, reason: str, now: datetime | None = None) -> bool:
        """Fail a job that is still stuck as `job` saw it (conditional, like `requeue`)."""
        now = now or utc_now()
        with self._sessions.begin() as session:
            changed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(JobRow)
                .where(JobRow.id == job.id, JobRow.attempts == job.attempts, self._stuck(now))
                .values(status=JobStatus.FAILED.value, error=reason, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            return bool(changed.rowcount == 1)

    def claim_retry(self, job_id: str, most: int) -> int | None:
        """Count one more retry of a job, unless it has had `most`: the new count, or None
        (conditional, so parallel retries cannot pass the bound together)."""
        with self._sessions.begin() as session:
            claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.retries < most)
                .values(retries=JobRow.retries + 1)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                return None
            return session.scalar(select(JobRow.retries).where(JobRow.id == job_id))

    def _stuck(self, now: datetime) -> ColumnElement[bool]:
        """SQL: the job is stuck at `now` (queued: its latest request sent long enough ago)."""
        assert self.deadlines is not None
        queued = self.deadlines.cutoff(JobStatus.QUEUED, now)
        processing = self.deadlines.cutoff(JobStatus.PROCESSING, now)
        # A request still waiting in the outbox (Kafka away) or sent recently: not the workers' fault yet.
        recent_request = exists().where(
            OutboxRow.job_id == JobRow.id, or_(OutboxRow.sent_at.is_(None), OutboxRow.sent_at >= queued)
        )
        return or_(
            and_(JobRow.status == JobStatus.QUEUED.value, JobRow.updated_at < queued, ~recent_request),
            and_(JobRow.status == JobStatus.PROCESSING.value, JobRow.updated_at < processing),
        )

    # --- direct uploads: jobs created before their bytes are stored --------------------------------

    def create_uploading(self, request: JobRequested, upload_id: str) -> JobRow:
        """A job whose original is still being sent to storage (multipart upload `upload_id`):
        nothing is asked of the workers until `queue_uploaded`."""
        job = _row(request, JobStatus.UPLOADING, upload_id=upload_id)
        with self._sessions.begin() as session:
            session.add(job)
        return job

    def queue_uploaded(
        self, job_id: str, kind: MediaKind, content_type: str, size: int
    ) -> JobRequested | None:
        """Queue a job whose original is now stored, as what its bytes showed, with its request to
        the workers in the outbox (one transaction). Conditional on the job still `uploading`: of
        the client's `complete` and storage's notification, whichever comes first queues it and the
        other gets None."""
        now = utc_now()
        with self._sessions.begin() as session:
            changed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == JobStatus.UPLOADING.value)
                .values(
                    status=JobStatus.QUEUED.value,
                    kind=kind.value,
                    content_type=content_type,
                    size_bytes=size,
                    upload_id=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if changed.rowcount != 1:
                return None
            job = session.get(JobRow, job_id)
            assert job is not None
            session.refresh(job)
            request = request_of(job)
            session.add(outbox_record(JOBS_REQUESTED, request, job_id=job_id))
        return request

    def fail_upload(self, job_id: str, reason: str) -> bool:
        """Fail a job still `uploading` (its object refused, or its upload abandoned); False when it
        had moved on meanwhile."""
        with self._sessions.begin() as session:
            changed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == JobStatus.UPLOADING.value)
                .values(status=JobStatus.FAILED.value, error=reason, upload_id=None, updated_at=utc_now())
                .execution_options(synchronize_session=False)
            )
            return bool(changed.rowcount == 1)

    def touch_upload(self, job_id: str) -> None:
        """The client is still sending (it asked for part URLs): the upload is not abandoned."""
        with self._sessions.begin() as session:
            session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == JobStatus.UPLOADING.value)
                .values(updated_at=utc_now())
                .execution_options(synchronize_session=False)
            )

    def uploading_count(self, owner_id: str) -> int:
        with self._sessions() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(JobRow)
                    .where(JobRow.owner_id == owner_id, JobRow.status == JobStatus.UPLOADING.value)
                )
                or 0
            )

    def abandoned_uploads(self, idle_since: datetime, limit: int = 100) -> list[JobRow]:
        """Jobs still `uploading` whose client has not been heard of since `idle_since`, oldest first."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(JobRow)
                    .where(JobRow.status == JobStatus.UPLOADING.value, JobRow.updated_at < idle_since)
                    .order_by(JobRow.updated_at)
                    .limit(limit)
                )
            )

    def mark_failed(self, job_id: str, reason: str) -> None:
        with self._sessions.begin() as session:
            job = session.get(JobRow, job_id)
            if job is not None and not JobStatus(job.status).is_terminal:
                job.status, job.error, job.updated_at = JobStatus.FAILED.value, reason, utc_now()

    def apply(self, event: JobStatusChanged) -> bool:
        """Record a worker's status event; False when it changes nothing (unknown job, stale event).

        `should_apply`'s rule is also the UPDATE's condition: SQLite ignores FOR UPDATE and reads
        outside the write transaction, so a progress report read before a DONE was written could
        otherwise still land after it (a done job at 96 %)."""
        with self._sessions.begin() as session:
            job = session.get(JobRow, event.job_id, with_for_update=True)
            if job is None:
                return False
            # The playable announcement carries no progress of its own: its moment is noted even when
            # a progress report got ahead of it, the job's status and progress kept.
            noted = event.playable_at is not None and _note_playable(session, event)
            advanced = should_apply(JobStatus(job.status), job.progress, event) and _advance(session, event)
            if advanced and event.status == JobStatus.DONE:
                job.renditions = [
                    RenditionRow(
                        name=r.name,
                        content_type=r.content_type,
                        width=r.width,
                        height=r.height,
                        bytes=r.bytes,
                        key=r.key,
                    )
                    for r in event.renditions
                ]
            return advanced or noted


_TERMINAL = tuple(status.value for status in JobStatus if status.is_terminal)


def _advance(session: Session, event: JobStatusChanged) -> bool:
    """Move the job to the event's status and progress unless, as the row is now, it is finished or
    (a progress report) further along; False when it was."""
    guard = [JobRow.id == event.job_id, JobRow.status.not_in(_TERMINAL)]
    if event.status == JobStatus.PROCESSING:
        guard.append(or_(JobRow.status != JobStatus.PROCESSING.value, JobRow.progress <= event.progress))
    moved: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(JobRow)
        .where(*guard)
        .values(
            status=event.status.value,
            progress=event.progress,
            error=event.error,
            worker_id=event.worker_id,
            updated_at=utc_now(),
        )
        .execution_options(synchronize_session="fetch")
    )
    return bool(moved.rowcount == 1)


def _note_playable(session: Session, event: JobStatusChanged) -> bool:
    """Note when a running job became playable (once); False when there is nothing to note."""
    noted: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(JobRow)
        .where(JobRow.id == event.job_id, JobRow.playable_at.is_(None), JobRow.status.not_in(_TERMINAL))
        .values(playable_at=event.playable_at, updated_at=utc_now())
        .execution_options(synchronize_session="fetch")
    )
    return bool(noted.rowcount == 1)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _row(request: JobRequested, status: JobStatus, retries: int = 0, upload_id: str | None = None) -> JobRow:
    """The new job's row, as `request` describes it."""
    return JobRow(
        id=request.job_id,
        kind=request.kind.value,
        status=status.value,
        progress=0.0,
        filename=request.filename,
        content_type=request.content_type,
        size_bytes=request.size_bytes,
        source_key=request.source_key,
        correlation_id=request.correlation_id,
        owner_id=request.user_id,
        retries=retries,
        upload_id=upload_id,
    )
