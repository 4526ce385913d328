"""The jobs table: created by uploads, advanced by the workers' status events."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import selectinload, sessionmaker

from shared.database import JobRow, RenditionRow
from shared.events import JobRequested, JobStatus, JobStatusChanged, utc_now


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


class JobStore:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def create(self, request: JobRequested) -> JobRow:
        job = JobRow(
            id=request.job_id,
            kind=request.kind.value,
            status=JobStatus.QUEUED.value,
            progress=0.0,
            filename=request.filename,
            content_type=request.content_type,
            size_bytes=request.size_bytes,
            source_key=request.source_key,
            correlation_id=request.correlation_id,
            owner_id=request.user_id,
        )
        with self._sessions.begin() as session:
            session.add(job)
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
        """Remove the job and its renditions' rows; False when it was already gone."""
        with self._sessions.begin() as session:
            job = session.get(JobRow, job_id)
            if job is None:
                return False
            session.delete(job)
            return True

    def mark_failed(self, job_id: str, reason: str) -> None:
        with self._sessions.begin() as session:
            job = session.get(JobRow, job_id)
            if job is not None and not JobStatus(job.status).is_terminal:
                job.status, job.error, job.updated_at = JobStatus.FAILED.value, reason, utc_now()

    def apply(self, event: JobStatusChanged) -> bool:
        """Record a worker's status event; False when it changes nothing (unknown job, stale event)."""
        with self._sessions.begin() as session:
            job = session.get(JobRow, event.job_id, with_for_update=True)
            if job is None or not should_apply(JobStatus(job.status), job.progress, event):
                return False
            job.status = event.status.value
            job.progress = event.progress
            job.error = event.error
            job.worker_id = event.worker_id
            job.updated_at = utc_now()
            if event.status == JobStatus.DONE:
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
            return True
