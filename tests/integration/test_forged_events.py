"""Consumers check what they are told: an event cannot point one job at another job's objects.

With the broker reachable, a forged `jobs.status` DONE for the forger's own job whose rendition keys
point at another user's objects would have made `/media/<own job>/large` serve the victim's image,
and a forged `JobRequested` with another job's `source_key` would have re-encoded their original into
the forger's job. Both are refused (dead-lettered as permanent errors) before anything changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.frontend.consumers.job_status import StatusRecorder
from services.frontend.job_store import JobStore
from services.reencoder.job_router import JobRouter
from shared.database import create_schema, make_engine
from shared.events import JobRequested, JobStatus, JobStatusChanged, MediaKind, Rendition, new_id
from shared.kafka import Delivery, PermanentError
from shared.settings import DatabaseSettings
from shared.storage import belongs_to_job

DELIVERY = Delivery("t", 0, 0, None, 1)


@pytest.fixture
def jobs(database_url: str) -> Iterator[JobStore]:
    engine = make_engine(DatabaseSettings(url=database_url))
    create_schema(engine)
    yield JobStore(engine)
    engine.dispose()


def request_for(job_id: str, source_key: str | None = None) -> JobRequested:
    return JobRequested(
        correlation_id=new_id(),
        job_id=job_id,
        kind=MediaKind.IMAGE,
        source_key=source_key or f"{job_id}/original",
        filename="cat.jpg",
        content_type="image/jpeg",
        size_bytes=1234,
    )


def done_with(job_id: str, key: str) -> JobStatusChanged:
    rendition = Rendition(name="large", content_type="image/webp", width=10, height=10, bytes=99, key=key)
    return JobStatusChanged(
        correlation_id="c",
        job_id=job_id,
        status=JobStatus.DONE,
        progress=1.0,
        worker_id="w",
        renditions=(rendition,),
    )


def test_a_key_belongs_to_a_job_only_under_its_own_prefix() -> None:
    assert belongs_to_job("j1", "j1/large.webp")
    assert belongs_to_job("j1", "j1/hls/720p/seg-001.m4s")
    for key in ("j2/large.webp", "j1", "j1x/large.webp", "j1/../j2/large.webp", "j1//x", "/j1/x", "j1/./x"):
        assert not belongs_to_job("j1", key), key
    assert not belongs_to_job("", "/x")


async def test_a_done_event_naming_another_jobs_objects_is_refused_and_changes_nothing(
    jobs: JobStore,
) -> None:
    own, victims = new_id(), new_id()
    jobs.create(request_for(own))
    recorder = StatusRecorder(jobs)
    with pytest.raises(PermanentError, match="outside job"):
        await recorder(done_with(own, f"{victims}/large.webp"), DELIVERY)
    job = jobs.get(own)
    assert job is not None
    assert (job.status, job.renditions) == ("queued", [])
    await recorder(done_with(own, f"{own}/large.webp"), DELIVERY)  # its own renditions are recorded
    job = jobs.get(own)
    assert job is not None
    assert job.status == "done"


class Untouchable:
    async def __call__(self, *_args: Any) -> None:
        raise AssertionError("a forged request reached a handler")


async def test_a_request_naming_another_jobs_original_is_refused_before_any_work() -> None:
    router = JobRouter(image=Untouchable(), video=Untouchable())  # type: ignore[arg-type]
    with pytest.raises(PermanentError, match="outside job"):
        await router(request_for(new_id(), source_key=f"{new_id()}/original"), DELIVERY)
