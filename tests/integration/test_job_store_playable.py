"""A video's `playable_at` on both databases: recorded once, whatever the progress it came with."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from services.frontend.job_store import JobStore
from shared.database import create_schema, make_engine
from shared.events import JobRequested, JobStatus, JobStatusChanged, MediaKind, new_id, utc_now
from shared.settings import DatabaseSettings


@pytest.fixture
def jobs(database_url: str) -> Iterator[JobStore]:
    engine = make_engine(DatabaseSettings(url=database_url))
    create_schema(engine)
    yield JobStore(engine)
    engine.dispose()


def _video(jobs: JobStore) -> str:
    job_id = new_id()
    jobs.create(
        JobRequested(
            correlation_id=new_id(),
            job_id=job_id,
            kind=MediaKind.VIDEO,
            source_key=f"{job_id}/original",
            filename="clip.mp4",
            content_type="video/mp4",
            size_bytes=1234,
        )
    )
    return job_id


def _status(job_id: str, status: JobStatus, progress: float, **extra: object) -> JobStatusChanged:
    return JobStatusChanged(
        correlation_id="c", job_id=job_id, status=status, progress=progress, worker_id="w1", **extra
    )


def test_playable_is_recorded_although_progress_got_ahead_of_it(jobs: JobStore) -> None:
    """The packager's announcement carries no progress; the job's progress stays where it was."""
    job_id = _video(jobs)
    assert jobs.apply(_status(job_id, JobStatus.PROCESSING, 0.4))
    playable_at = utc_now()
    assert jobs.apply(_status(job_id, JobStatus.PROCESSING, 0.0, playable_at=playable_at))
    job = jobs.get(job_id)
    assert job is not None
    assert (job.status, job.progress, job.playable_at) == ("processing", 0.4, playable_at)


def test_playable_is_kept_once_and_survives_later_reports(jobs: JobStore) -> None:
    job_id = _video(jobs)
    first = utc_now()
    assert jobs.apply(_status(job_id, JobStatus.PROCESSING, 0.1, playable_at=first))
    # A redelivered announcement changes nothing; later progress keeps the moment.
    assert not jobs.apply(
        _status(job_id, JobStatus.PROCESSING, 0.0, playable_at=first + timedelta(seconds=5))
    )
    assert jobs.apply(_status(job_id, JobStatus.PROCESSING, 0.7))
    assert jobs.apply(_status(job_id, JobStatus.DONE, 1.0))
    job = jobs.get(job_id)
    assert job is not None
    assert (job.status, job.playable_at) == ("done", first)


def test_a_failed_job_is_never_made_playable(jobs: JobStore) -> None:
    job_id = _video(jobs)
    assert jobs.apply(_status(job_id, JobStatus.FAILED, 0.0, error="broken"))
    assert not jobs.apply(_status(job_id, JobStatus.PROCESSING, 0.0, playable_at=utc_now()))
    job = jobs.get(job_id)
    assert job is not None
    assert job.playable_at is None


def test_a_progress_report_read_before_done_never_lands_after_it(
    jobs: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite reads outside the write transaction: a report may judge the row before a DONE commits
    and write after it. Simulated by a check that saw the old row; the write itself must refuse."""
    job_id = _video(jobs)
    assert jobs.apply(_status(job_id, JobStatus.PROCESSING, 0.5))
    assert jobs.apply(_status(job_id, JobStatus.DONE, 1.0))
    monkeypatch.setattr("services.frontend.job_store.should_apply", lambda *_: True)
    assert not jobs.apply(_status(job_id, JobStatus.PROCESSING, 0.96))
    job = jobs.get(job_id)
    assert job is not None
    assert (job.status, job.progress) == ("done", 1.0)
