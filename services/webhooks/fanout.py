"""From a job's end or a deletion to one message per subscribed endpoint of its owner.

No HTTP happens here: each message goes to `webhooks.deliveries`, whose consumer sends them
concurrently, so this loop is never held up by a receiver.
"""

from __future__ import annotations

import asyncio

from shared.events import (
    WEBHOOK_DELIVERIES,
    Event,
    JobStatusChanged,
    MediaDeleted,
    WebhookDelivery,
)
from shared.kafka.consumer import Delivery
from shared.kafka.producer import EventProducer
from shared.webhooks.messages import WebhookEvent, deletion_body, job_body, job_event_type, webhook_id
from shared.webhooks.store import WebhookStore


class FanOut:
    def __init__(self, store: WebhookStore, producer: EventProducer) -> None:
        self._store = store
        self._producer = producer

    async def job_status(self, event: JobStatusChanged, _delivery: Delivery) -> None:
        kind = job_event_type(event)
        if kind is None:
            return
        owner = await asyncio.to_thread(self._store.job_owner, event.job_id)
        if owner is not None:
            await self._announce(owner, kind, event.job_id, event, job_body(kind, event))

    async def media_deleted(self, event: MediaDeleted, _delivery: Delivery) -> None:
        await self._announce(
            event.user_id, WebhookEvent.MEDIA_DELETED, event.job_id, event, deletion_body(event)
        )

    async def _announce(self, owner: str, kind: WebhookEvent, subject: str, source: Event, body: str) -> None:
        endpoints = await asyncio.to_thread(self._store.subscribed, owner, kind.value)
        messages = [
            WebhookDelivery(
                correlation_id=source.correlation_id,
                endpoint_id=endpoint.id,
                webhook_id=webhook_id(kind.value, subject, endpoint.id),
                event_type=kind.value,
                source_event_id=source.event_id,
                body=body,
            )
            for endpoint in endpoints
        ]
        await asyncio.gather(*(self._producer.publish(WEBHOOK_DELIVERIES, message) for message in messages))
