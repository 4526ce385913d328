"""The webhook delivery consumer on the session's real broker: a record not yet due holds only its own
partition (never by sleeping), comes out when due, and is never committed before it is handled."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiokafka import AIOKafkaProducer, ConsumerRecord

from infra.local.stack import LocalStack
from services.webhooks.due_consumer import DueConsumer
from shared.events import Topic, WebhookDelivery, new_id, utc_now
from shared.kafka import ensure_topics
from shared.kafka.clients import kafka_admin
from tests.integration.conftest import eventually


def message(name: str, due_in_s: float) -> bytes:
    return (
        WebhookDelivery(
            correlation_id=name,
            endpoint_id="e",
            webhook_id=name,
            event_type="job.done",
            source_event_id="x",
            body="{}",
            due_at=utc_now() + timedelta(seconds=due_in_s),
        )
        .model_dump_json()
        .encode()
    )


async def test_a_record_not_yet_due_holds_only_its_partition_and_stays_uncommitted(stack: LocalStack) -> None:
    kafka = stack.config.kafka
    topic: Topic[WebhookDelivery] = Topic(
        name=f"test.webhooks.due.{new_id()[:8]}",
        event_type=WebhookDelivery,
        partitions=2,
        key=lambda event: event.endpoint_id,
        description="a test's retry topic",
    )
    await ensure_topics(kafka, [topic])
    handled: list[str] = []

    async def handle(_record: ConsumerRecord[bytes, bytes], delivery: WebhookDelivery) -> None:
        handled.append(delivery.webhook_id)

    async def give_up(_record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        raise AssertionError(reason)

    group = f"test-due-{new_id()[:8]}"
    consumer = DueConsumer(
        [topic],
        group_id=group,
        settings=kafka,
        client_id="test",
        handle=handle,
        give_up=give_up,
        max_in_flight=10,
        shutdown_grace_s=1.0,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        # Partition 0: a record due in an hour, then one due now (behind it: a topic keeps its order).
        await producer.send_and_wait(topic.name, message("later", 3600), partition=0)
        await producer.send_and_wait(topic.name, message("behind-later", 0), partition=0)
        # Partition 1: one due now, one due in a second (held, then resumed).
        await producer.send_and_wait(topic.name, message("now", 0), partition=1)
        await producer.send_and_wait(topic.name, message("soon", 1), partition=1)
    finally:
        await producer.stop()

    running = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: handled == ["now", "soon"], within_s=60)
    finally:
        consumer.stop()
        await running

    admin = kafka_admin(kafka)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    committed = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic.name}
    assert committed.get(1) == 2
    assert committed.get(0, -1) in (-1, 0)  # the held record is handed to whoever reads next
