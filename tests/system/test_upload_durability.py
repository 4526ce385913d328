"""Faults lose nothing, on the running site: an accepted upload reaches the workers even when the
frontend died between its commit and Kafka, and a job stuck past its deadline can be deleted or
retried instead of answering 409 forever (the sweeper itself: tests/integration/test_outbox.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update

from services.frontend.job_store import JobStore
from services.reencoder.renditions import IMAGE_LADDER
from shared.database import JobRow, make_engine
from shared.events import JobRequested, MediaKind, new_id, utc_now
from shared.settings import DatabaseSettings
from tests.media_samples import image_bytes
from tests.system.conftest import Site


@pytest.fixture
def database(bare_site: Site) -> Iterator[Engine]:
    """The running frontend's database (its schema is migrated by the frontend at start)."""
    engine = make_engine(DatabaseSettings(url=bare_site.stack.config.sqlalchemy_url))
    yield engine
    engine.dispose()


def test_a_job_committed_but_never_published_is_done_once_a_relay_runs(
    bare_site: Site, database: Engine
) -> None:
    """What a frontend SIGKILLed right after its commit leaves behind: the original, the job row and
    its request in the outbox, never published. The running frontend's relay publishes it."""
    user_id = bare_site.http.get("/api/auth/me").json()["user"]["user_id"]
    data = image_bytes(800, 600)
    job_id = new_id()
    request = JobRequested(
        correlation_id=new_id(),
        job_id=job_id,
        kind=MediaKind.IMAGE,
        source_key=f"{job_id}/original",
        filename="orphaned.jpg",
        content_type="image/jpeg",
        size_bytes=len(data),
        user_id=user_id,
    )
    store = bare_site.store
    store.put_stream(store.uploads_bucket, request.source_key, io.BytesIO(data), len(data), "image/jpeg")
    JobStore(database).create(request)

    bare_site.stack.start_reencoder("reencoder-1")
    job = bare_site.wait_for(job_id, timeout=120)
    assert job["status"] == "done", job["error"]
    assert len(job["renditions"]) == len(IMAGE_LADDER)


def test_a_job_stuck_in_processing_can_be_deleted_or_retried(bare_site: Site, database: Engine) -> None:
    stuck, other = bare_site.upload_ok(image_bytes(), "a.jpg"), bare_site.upload_ok(image_bytes(), "b.jpg")
    with database.begin() as connection:  # a worker took them, then went silent
        connection.execute(
            update(JobRow).where(JobRow.id.in_([stuck, other])).values(status="processing", progress=0.3)
        )
    refused = bare_site.http.delete(f"/api/jobs/{stuck}")
    assert refused.status_code == 409  # still within its deadline: a worker may yet write renditions

    # Days later, with nothing heard (attempts spent: the sweeper, if it looks first, fails them).
    with database.begin() as connection:
        connection.execute(
            update(JobRow)
            .where(JobRow.id.in_([stuck, other]))
            .values(updated_at=utc_now() - timedelta(days=3), attempts=3)
        )
    assert bare_site.http.delete(f"/api/jobs/{stuck}").status_code == 204
    assert bare_site.http.get(f"/api/jobs/{stuck}").status_code == 404

    retried = bare_site.http.post(f"/api/jobs/{other}/retry")
    assert retried.status_code == 202, retried.text
    given_up = bare_site.job(other)
    assert given_up["status"] == "failed"
    assert given_up["error"]
    assert bare_site.job(retried.json()["job_id"])["filename"] == "b.jpg"
