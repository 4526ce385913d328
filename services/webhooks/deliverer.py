"""One try of one webhook message: send it, record the attempt, then retry later or give up."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import ConsumerRecord

from services.webhooks.retries import RetrySchedule
from services.webhooks.sender import Outcome, WebhookSender
from shared.events import DEAD_LETTERS, WebhookDelivery, new_id, utc_now
from shared.kafka.dead_letters import dead_letter
from shared.kafka.producer import EventProducer
from shared.webhooks.store import WebhookStore
from shared.webhooks.tables import WebhookDeliveryRow

log = logging.getLogger(__name__)


class Deliverer:
    def __init__(
        self,
        store: WebhookStore,
        sender: WebhookSender,
        producer: EventProducer,
        schedule: RetrySchedule,
        group_id: str,
    ) -> None:
        self._store = store
        self._sender = sender
        self._producer = producer
        self._schedule = schedule
        self._group_id = group_id

    async def __call__(self, record: ConsumerRecord[bytes, bytes], message: WebhookDelivery) -> None:
        # Read at every try: a rotated secret signs the next try, a deleted endpoint gets none.
        endpoint = await asyncio.to_thread(self._store.endpoint, message.endpoint_id)
        if endpoint is None:
            log.info("endpoint %s is gone: %s not sent", message.endpoint_id, message.webhook_id)
            return
        outcome = await self._sender.send(
            endpoint.id, endpoint.url, endpoint.secret, message.webhook_id, message.body
        )
        await asyncio.to_thread(self._store.record, _attempt_row(message, outcome))
        if outcome.ok:
            log.info("%s %s delivered (try %d)", message.event_type, message.webhook_id, message.attempt)
            return
        log.info("%s try %d failed: %s", message.webhook_id, message.attempt, outcome.error)
        retry = self._schedule.after_failure(message, utc_now())
        if retry is not None:
            topic, later = retry
            await self._producer.publish(topic, later)
            return
        reason = f"webhook {message.webhook_id} failed {message.attempt} tries, the last: {outcome.error}"
        await self.give_up(record, reason)

    async def give_up(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        """The record goes to dead-letters, whole, with the reason."""
        letter = dead_letter(record, reason, attempts=1, consumer_group=self._group_id)
        await self._producer.publish(DEAD_LETTERS, letter)
        log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)


def _attempt_row(message: WebhookDelivery, outcome: Outcome) -> WebhookDeliveryRow:
    return WebhookDeliveryRow(
        id=new_id(),
        endpoint_id=message.endpoint_id,
        event_id=message.source_event_id,
        event_type=message.event_type,
        webhook_id=message.webhook_id,
        attempt=message.attempt,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        error=outcome.error,
        body=message.body,
        at=utc_now(),
    )
