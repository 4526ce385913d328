"""`EventProducer.publish_many`: many events sent together, one outcome each (log shipping uses it)."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition

from shared.events import LogLevel, LogRecord, new_id
from shared.kafka.clients import kafka_consumer
from tests.integration.conftest import HarnessFactory, Probe


async def test_every_event_is_acknowledged_and_a_misfit_is_refused_alone(
    consumer_harness: HarnessFactory,
) -> None:
    harness = await consumer_harness()
    misfit = LogRecord(
        correlation_id=new_id(), service="s", instance_id="i", level=LogLevel.INFO, logger="l", message="m"
    )
    events: list[Any] = [Probe(correlation_id=new_id(), n=n) for n in range(5)]
    events.insert(2, misfit)

    outcomes = await harness.producer.publish_many(harness.topic, events)

    assert [outcome is None for outcome in outcomes] == [True, True, False, True, True, True]
    assert isinstance(outcomes[2], TypeError)
    reader = kafka_consumer(harness.kafka, group_id=None)
    await reader.start()
    try:
        partition = TopicPartition(harness.topic.name, 0)
        # Acknowledged means written: all five are in the log when publish_many returns.
        assert (await reader.end_offsets([partition]))[partition] == 5
    finally:
        await reader.stop()
