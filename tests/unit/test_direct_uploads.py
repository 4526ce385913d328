"""Pure pieces of direct uploads: the part plan, and which notifications name a job's original."""

from __future__ import annotations

from services.frontend.consumers.stored_originals import original_job_id
from shared.events import StorageNotification
from shared.multipart import MAX_PARTS, MIN_PART_BYTES, part_plan

MIB = 1024 * 1024


def test_the_part_plan_keeps_the_preferred_size_until_s3s_part_count_forces_larger_parts() -> None:
    assert part_plan(20 * MIB, 8 * MIB) == (8 * MIB, 3)
    assert part_plan(1, 8 * MIB) == (8 * MIB, 1)
    assert part_plan(20 * MIB, 1024) == (MIN_PART_BYTES, 4)
    size, count = part_plan(200 * 1024 * MIB, 8 * MIB)
    assert count <= MAX_PARTS
    assert size * count >= 200 * 1024 * MIB
    assert size % MIB == 0


def notification(name: str, key: str) -> StorageNotification:
    # MinIO's own JSON names, as the consumer decodes it.
    return StorageNotification.model_validate({"EventName": name, "Key": key})


def test_only_created_originals_in_the_uploads_bucket_name_a_job() -> None:
    created = "s3:ObjectCreated:CompleteMultipartUpload"
    assert original_job_id(notification(created, "uploads/abc/original"), "uploads") == "abc"
    assert original_job_id(notification("s3:ObjectRemoved:Delete", "uploads/abc/original"), "uploads") is None
    assert original_job_id(notification(created, "renditions/abc/original"), "uploads") is None
    assert original_job_id(notification(created, "uploads/abc/hls/original"), "uploads") is None
    assert original_job_id(notification(created, "uploads/abc/other"), "uploads") is None
    assert original_job_id(notification(created, "uploads/..%2Foriginal"), "uploads") is None
