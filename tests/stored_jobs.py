"""An image job as the frontend hands it to the workers, its original stored in the real storage."""

from __future__ import annotations

import io

from shared.events import JobRequested, MediaKind, new_id
from shared.storage import MediaStore
from tests.media_samples import image_bytes


def stored_image_job(store: MediaStore, *, uploaded: bool = True) -> JobRequested:
    """A fresh image job; its original (a small JPEG) is stored unless `uploaded=False`."""
    job_id = new_id()
    source_key = f"{job_id}/original.jpg"
    if uploaded:
        data = image_bytes()
        store.put_stream(store.uploads_bucket, source_key, io.BytesIO(data), len(data), "image/jpeg")
    return JobRequested(
        correlation_id=new_id(),
        job_id=job_id,
        kind=MediaKind.IMAGE,
        source_key=source_key,
        filename="photo.jpg",
        content_type="image/jpeg",
        size_bytes=1,
    )
