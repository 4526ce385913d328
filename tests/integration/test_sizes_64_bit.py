"""Sizes are 64-bit on both databases: a video upload over 2 GiB is recorded (before: PostgreSQL's
32-bit INTEGER made `jobs.create` raise DataError, a 500 after the original was already stored), and a
database made before migration 0004 is widened with its rows kept."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from services.frontend.job_store import JobStore
from shared.database import create_schema, make_engine
from shared.events import JobStatus, JobStatusChanged, Rendition, new_id
from shared.migrations import alembic_config
from shared.settings import DatabaseSettings
from tests.video_samples import video_job

EIGHT_GIB = 8 * 1024**3


def test_a_job_over_2_gib_with_renditions_over_2_gib_is_stored(database_url: str) -> None:
    engine = make_engine(DatabaseSettings(url=database_url))
    create_schema(engine)
    jobs = JobStore(engine)
    job_id = jobs.create(video_job(new_id(), EIGHT_GIB)).id
    big = Rendition(name="1080p", content_type="video/mp4", width=1920, height=1080, bytes=2**31 + 1, key="k")
    done = JobStatusChanged(
        correlation_id="c",
        job_id=job_id,
        status=JobStatus.DONE,
        progress=1.0,
        worker_id="w",
        renditions=(big,),
    )
    assert jobs.apply(done)
    job = jobs.get(job_id)
    assert job is not None
    assert job.size_bytes == EIGHT_GIB
    assert [r.bytes for r in job.renditions] == [2**31 + 1]
    engine.dispose()


def test_a_database_at_0003_is_widened_and_keeps_its_rows(database_url: str) -> None:
    engine = make_engine(DatabaseSettings(url=database_url))
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0003")
    job_id = new_id()
    with engine.begin() as connection:  # the columns of 0003: the models have moved on since
        connection.execute(
            text(
                "INSERT INTO jobs (id, kind, status, progress, filename, content_type, size_bytes,"
                " source_key, correlation_id, created_at, updated_at) VALUES (:id, 'video', 'queued',"
                " 0.0, 'film.mp4', 'video/mp4', 1234, 'k', 'c', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"id": job_id},
        )
    create_schema(engine)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE jobs SET size_bytes = :size WHERE id = :id"), {"size": EIGHT_GIB, "id": job_id}
        )
        assert (
            connection.scalar(text("SELECT size_bytes FROM jobs WHERE id = :id"), {"id": job_id}) == EIGHT_GIB
        )
        assert (
            connection.scalar(text("SELECT version_num FROM alembic_version"))
            == ScriptDirectory.from_config(alembic_config()).get_current_head()
        )
    engine.dispose()
