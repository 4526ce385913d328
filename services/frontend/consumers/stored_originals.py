"""Starts direct uploads' jobs from MinIO's own `storage.events` notification of the stored object.

MinIO announces every object created in the uploads bucket (infra/local/storage_events.py). For the
original of a job still `uploading`, the object is checked and the job queued
(`DirectUploads.finish`), idempotently with the client's `complete` call: whichever comes first
queues it. Notifications of other objects (uploads through the frontend, whose jobs are queued
already) change nothing.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import unquote_plus

from services.frontend.direct_uploads import DirectUploads
from services.frontend.outbox import OutboxRelay
from shared.events import StorageNotification
from shared.kafka import Delivery

log = logging.getLogger(__name__)


def original_job_id(event: StorageNotification, uploads_bucket: str) -> str | None:
    """The job whose original the notification announces as created, else None.

    MinIO's `Key` is `bucket/object-key`, the object key URL-encoded as in S3's own notifications;
    job ids are plain alphanumerics (`new_id`), so a key that climbs or nests names no job.
    """
    if not event.event_name.startswith("s3:ObjectCreated:"):
        return None
    bucket, _, key = unquote_plus(event.key).partition("/")
    job_id = key.partition("/")[0]
    if bucket != uploads_bucket or not job_id.isalnum() or key != f"{job_id}/original":
        return None
    return job_id


class StoredOriginals:
    def __init__(self, uploads: DirectUploads, outbox: OutboxRelay) -> None:
        self._uploads = uploads
        self._outbox = outbox

    async def __call__(self, event: StorageNotification, delivery: Delivery) -> None:
        job_id = original_job_id(event, self._uploads.store.uploads_bucket)
        if job_id is None:
            return
        if await asyncio.to_thread(self._uploads.finish, job_id) is not None:
            log.info("job %s queued on storage's notification of its original", job_id)
            await self._outbox.publish_job(job_id)
