"""Direct uploads' state on both databases and a real MinIO: queued once, abandoned ones aborted."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.local.stack import LocalStack
from services.frontend.accounts.account_store import AccountStore
from services.frontend.direct_uploads import DirectUploads, DirectUploadSettings
from services.frontend.job_store import JobStore
from shared.database import OutboxRow, create_schema, make_engine
from shared.events import new_id
from shared.settings import DatabaseSettings, MediaLimits, VideoLimits
from shared.storage import MediaStore
from tests.media_samples import image_bytes


@pytest.fixture
def uploads(database_url: str, stack: LocalStack) -> Iterator[tuple[DirectUploads, str]]:
    """Direct uploads abandoned as soon as idle, on this test's own uploads bucket; and a user id."""
    engine = make_engine(DatabaseSettings(url=database_url))
    create_schema(engine)
    accounts = AccountStore(engine)
    user = accounts.register(f"u-{new_id()[:8]}", f"{new_id()[:8]}@example.org", "not-a-hash")
    settings = stack.config.storage.model_copy(update={"uploads_bucket": f"test-direct-{new_id()[:10]}"})
    store = MediaStore(settings)
    store.ensure_buckets()
    made = DirectUploads(
        store,
        JobStore(engine),
        MediaLimits(),
        VideoLimits(),
        DirectUploadSettings(abandon_after_s=0),
        lambda user_id: accounts.stats(user_id).bytes,
        10 * 1024**3,
    )
    yield made, user.id
    engine.dispose()


def _outbox_records(uploads: DirectUploads, job_id: str) -> int:
    engine = uploads.jobs._sessions.kw["bind"]
    with Session(engine) as session:
        return session.scalar(select(func.count()).where(OutboxRow.job_id == job_id)) or 0


def test_an_abandoned_upload_is_aborted_and_its_job_failed(uploads: tuple[DirectUploads, str]) -> None:
    direct, user_id = uploads
    started = direct.start(user_id, "cat.jpg", 6 * 1024 * 1024, "image/jpeg", new_id())
    assert direct.store.multipart.open_uploads(started.key) != []

    assert direct.abandon_idle() == 1
    job = direct.jobs.get(started.job_id)
    assert job is not None
    assert job.status == "failed"
    assert job.error is not None
    assert "abandoned" in job.error
    assert direct.store.multipart.open_uploads(started.key) == []
    assert direct.abandon_idle() == 0


def test_a_stored_original_is_queued_once_however_often_it_is_finished(
    uploads: tuple[DirectUploads, str],
) -> None:
    direct, user_id = uploads
    data = image_bytes(64, 48)
    started = direct.start(user_id, "cat.jpg", len(data), "image/jpeg", new_id())
    store = direct.store
    store.put_stream(store.uploads_bucket, started.key, io.BytesIO(data), len(data), "image/jpeg")

    first = direct.finish(started.job_id)
    assert first is not None
    assert (first.kind.value, first.content_type, first.size_bytes) == ("image", "image/jpeg", len(data))
    assert direct.finish(started.job_id) is None
    # An idle upload whose object is stored after all is not dropped by the sweeper either.
    assert direct.abandon_idle() == 0
    assert _outbox_records(direct, started.job_id) == 1
    job = direct.jobs.get(started.job_id)
    assert job is not None
    assert job.status == "queued"
