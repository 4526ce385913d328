"""What a webhook says and how it is signed (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
`webhook-signature`, made with the `standardwebhooks` package).

A message's id is derived from what it tells (event type, job, endpoint), not from the Kafka event
that carried it: a job announced `done` twice (a redelivered job) still makes one id, so a receiver
that deduplicates by `webhook-id` acts once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any

from standardwebhooks import Webhook

from shared.events import JobStatus, JobStatusChanged, MediaDeleted, utc_now


class WebhookEvent(StrEnum):
    JOB_DONE = "job.done"
    JOB_FAILED = "job.failed"
    MEDIA_DELETED = "media.deleted"


SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def webhook_id(event_type: str, subject: str, endpoint_id: str) -> str:
    """The message's `webhook-id`, the same for every try and every announcement of one event."""
    digest = hashlib.sha256(f"{event_type}\n{subject}\n{endpoint_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def signed_headers(secret: str, message_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for sending `body` now (or `at`)."""
    timestamp = at or utc_now()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }


def job_event_type(event: JobStatusChanged) -> WebhookEvent | None:
    """Which webhook a job's status event makes: only its end (done or failed) makes one."""
    if event.status is JobStatus.DONE:
        return WebhookEvent.JOB_DONE
    if event.status is JobStatus.FAILED:
        return WebhookEvent.JOB_FAILED
    return None


def job_body(kind: WebhookEvent, event: JobStatusChanged) -> str:
    renditions = [
        {
            "name": r.name,
            "content_type": r.content_type,
            "width": r.width,
            "height": r.height,
            "bytes": r.bytes,
        }
        for r in event.renditions
    ]
    data = {
        "job_id": event.job_id,
        "status": event.status.value,
        "error": event.error,
        "renditions": renditions,
    }
    return _body(kind, event.occurred_at, data)


def deletion_body(event: MediaDeleted) -> str:
    return _body(WebhookEvent.MEDIA_DELETED, event.occurred_at, {"job_id": event.job_id})


def _body(kind: WebhookEvent, at: datetime, data: dict[str, Any]) -> str:
    # The Standard Webhooks payload shape: type, timestamp, data.
    return json.dumps({"type": kind.value, "timestamp": at.isoformat(), "data": data}, separators=(",", ":"))
