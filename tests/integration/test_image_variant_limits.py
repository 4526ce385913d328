"""Sizes on demand against a real MinIO and both databases: the number of variants an image may
have is bounded, and a cached one is still served once the bound is reached."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi import HTTPException
from PIL import Image
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from infra.local.stack import LocalStack
from services.frontend.api.images import ImageUrlSettings, ImageVariants
from services.frontend.image_variants import sign
from services.frontend.job_store import JobStore
from shared.database import create_schema, make_engine
from shared.events import JobRequested, JobStatus, JobStatusChanged, MediaKind, Rendition, new_id
from shared.settings import DatabaseSettings
from shared.storage import MediaStore

SECRET = "integration-secret"


@pytest.fixture
def variants(database_url: str, stack: LocalStack) -> Iterator[tuple[ImageVariants, str]]:
    """An image job, done, with one stored 400x300 WebP; at most two variants per image."""
    engine = make_engine(DatabaseSettings(url=database_url))
    create_schema(engine)
    jobs = JobStore(engine)
    settings = stack.config.storage.model_copy(update={"renditions_bucket": f"test-img-{new_id()[:10]}"})
    store = MediaStore(settings)
    store.ensure_buckets()
    job_id = new_id()
    jobs.create(
        JobRequested(
            correlation_id="c",
            job_id=job_id,
            kind=MediaKind.IMAGE,
            source_key=f"{job_id}/original",
            filename="cat.jpg",
            content_type="image/jpeg",
            size_bytes=1,
        )
    )
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), (10, 120, 200)).save(buffer, "WEBP")
    key = f"{job_id}/large.webp"
    store.put_stream(
        store.renditions_bucket, key, io.BytesIO(buffer.getvalue()), len(buffer.getvalue()), "image/webp"
    )
    large = Rendition(name="large", content_type="image/webp", width=400, height=300, bytes=1, key=key)
    done = JobStatusChanged(
        correlation_id="c",
        job_id=job_id,
        status=JobStatus.DONE,
        progress=1.0,
        worker_id="w",
        renditions=(large,),
    )
    assert jobs.apply(done)
    limits = ImageUrlSettings(secret=SecretStr(SECRET), max_variants_per_image=2)
    yield ImageVariants(store, jobs, limits, 10**8, CollectorRegistry()), job_id
    store.remove_prefix(store.renditions_bucket, f"{job_id}/")
    engine.dispose()


async def fetch(variants: ImageVariants, job_id: str, options: str) -> int:
    response = await variants.serve(sign(SECRET.encode(), options, job_id), options, job_id, "image/webp")
    return response.status_code


async def test_an_image_holds_a_bounded_number_of_variants(variants: tuple[ImageVariants, str]) -> None:
    service, job_id = variants
    assert await fetch(service, job_id, "w:100") == 200
    assert await fetch(service, job_id, "w:200") == 200
    with pytest.raises(HTTPException) as refused:
        await fetch(service, job_id, "w:300")
    assert refused.value.status_code == 409
    assert "sizes" in str(refused.value.detail)
    assert await fetch(service, job_id, "w:100") == 200  # already made: served from storage
    stored = service.store.list_keys(service.store.renditions_bucket, f"{job_id}/variants/")
    assert len(stored) == 2


async def test_a_wrong_signature_reads_nothing(variants: tuple[ImageVariants, str]) -> None:
    service, job_id = variants
    with pytest.raises(HTTPException) as refused:
        await service.serve("x" * 32, "w:100", job_id, None)
    assert refused.value.status_code == 403
    assert service.store.list_keys(service.store.renditions_bucket, f"{job_id}/variants/") == []
