"""The jobs table on both databases: creation, status transitions, renditions, paging."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.frontend.job_store import JobStore
from shared.database import create_schema, make_engine
from shared.events import JobRequested, JobStatus, JobStatusChanged, MediaKind, Rendition, new_id
from shared.settings import DatabaseSettings


@pytest.fixture
def jobs(database_url: str) -> Iterator[JobStore]:
    engine = make_engine(DatabaseSettings(url=database_url))
    create_schema(engine)
    yield JobStore(engine)
    engine.dispose()


def _request(job_id: str | None = None) -> JobRequested:
    job_id = job_id or new_id()
    return JobRequested(
        correlation_id=new_id(),
        job_id=job_id,
        kind=MediaKind.IMAGE,
        source_key=f"{job_id}/original",
        filename="cat.jpg",
        content_type="image/jpeg",
        size_bytes=1234,
    )


def _status(job_id: str, status: JobStatus, progress: float = 0.0, **extra: object) -> JobStatusChanged:
    return JobStatusChanged(
        correlation_id="c", job_id=job_id, status=status, progress=progress, worker_id="w1", **extra
    )


RENDITION = Rendition(name="thumbnail", content_type="image/webp", width=320, height=240, bytes=999, key="k")


def test_a_job_goes_from_queued_to_done_with_its_renditions(jobs: JobStore) -> None:
    job_id = jobs.create(_request()).id
    assert jobs.get(job_id).status == "queued"  # type: ignore[union-attr]
    assert jobs.apply(_status(job_id, JobStatus.PROCESSING, 0.5))
    assert jobs.apply(_status(job_id, JobStatus.DONE, 1.0, renditions=(RENDITION,)))
    job = jobs.get(job_id)
    assert job is not None
    assert (job.status, job.progress, job.worker_id) == ("done", 1.0, "w1")
    assert [(r.name, r.width, r.bytes) for r in job.renditions] == [("thumbnail", 320, 999)]


def test_redelivered_and_late_events_do_not_change_a_finished_job(jobs: JobStore) -> None:
    job_id = jobs.create(_request()).id
    done = _status(job_id, JobStatus.DONE, 1.0, renditions=(RENDITION,))
    assert jobs.apply(done)
    assert not jobs.apply(done)
    assert not jobs.apply(_status(job_id, JobStatus.PROCESSING, 0.1))
    assert not jobs.apply(_status(job_id, JobStatus.FAILED, error="late"))
    job = jobs.get(job_id)
    assert job is not None
    assert job.status == "done"
    assert len(job.renditions) == 1


def test_progress_never_goes_backwards(jobs: JobStore) -> None:
    job_id = jobs.create(_request()).id
    jobs.apply(_status(job_id, JobStatus.PROCESSING, 0.6))
    assert not jobs.apply(_status(job_id, JobStatus.PROCESSING, 0.1))
    assert jobs.get(job_id).progress == 0.6  # type: ignore[union-attr]


def test_events_for_unknown_jobs_are_ignored(jobs: JobStore) -> None:
    assert not jobs.apply(_status("nope", JobStatus.DONE, 1.0))


def test_failed_jobs_keep_their_reason(jobs: JobStore) -> None:
    job_id = jobs.create(_request()).id
    jobs.mark_failed(job_id, "the message bus is unavailable")
    job = jobs.get(job_id)
    assert job is not None
    assert (job.status, job.error) == ("failed", "the message bus is unavailable")


def test_pages_are_newest_first_with_a_total(jobs: JobStore) -> None:
    ids = [jobs.create(_request()).id for _ in range(5)]
    first = jobs.page(limit=2, offset=0)
    assert first.total == 5
    assert [job.id for job in first.jobs] == ids[::-1][:2]
    assert [job.id for job in jobs.page(limit=2, offset=4).jobs] == ids[:1]


def test_duplicate_job_ids_are_refused(jobs: JobStore) -> None:
    request = _request()
    jobs.create(request)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        jobs.create(request)
