"""Reading a topic outside any consumer group, as an operator does: nothing is committed, no
service's group is disturbed, and the catalogue turns each record back into its event."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import ConsumerRecord, TopicPartition
from pydantic import ValidationError

from infra.ops.cluster_view import CATALOGUE, CLIENT_ID, describe_topics
from shared.events import Event
from shared.kafka.clients import kafka_consumer
from shared.kafka.cluster import PartitionView
from shared.kafka.consumer import describe_validation_error
from shared.settings import KafkaSettings


@dataclass(frozen=True)
class ReadRecord:
    """One record with its place in the log, decoded when the catalogue knows its topic."""

    topic: str
    partition: int
    offset: int
    key: str | None
    timestamp: datetime
    raw: str
    event: Event | None
    #: Why `event` is None for a catalogue topic (a poison message); None otherwise.
    problem: str | None


def decode(topic: str, value: bytes | None) -> tuple[Event | None, str | None]:
    """The record's catalogue event, or the reason it is not one."""
    known = CATALOGUE.get(topic)
    if known is None:
        return None, None
    try:
        return known.event_type.model_validate_json(value or b""), None
    except ValidationError as error:
        return None, f"invalid {known.event_type.__name__}: {describe_validation_error(error)}"


def _read_record(record: ConsumerRecord[bytes, bytes]) -> ReadRecord:
    event, problem = decode(record.topic, record.value)
    return ReadRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=None if record.key is None else record.key.decode("utf-8", errors="replace"),
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        raw=(record.value or b"").decode("utf-8", errors="replace"),
        event=event,
        problem=problem,
    )


async def read_topic(
    settings: KafkaSettings,
    topic: str,
    *,
    from_beginning: bool,
    follow: bool,
    idle_timeout_s: float | None = None,
) -> AsyncGenerator[ReadRecord, None]:
    """Records of every partition of `topic`.

    `follow=False` stops at the end offsets seen at the start (a bounded read, e.g. for a replay);
    `follow=True` keeps waiting for new records, until `idle_timeout_s` passes without one.
    """
    consumer = kafka_consumer(settings, group_id=None, client_id=CLIENT_ID)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p.partition) for p in await _partitions(settings, topic)]
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        idle_ms = int((idle_timeout_s if idle_timeout_s is not None else 3600) * 1000)
        while follow or remaining:
            batch = await consumer.getmany(timeout_ms=idle_ms if follow else 5000)
            if not batch and (not follow or idle_timeout_s is not None):
                return
            for partition, records in batch.items():
                for record in records:
                    if not follow and record.offset >= ends[partition]:
                        continue
                    yield _read_record(record)
                if records and records[-1].offset + 1 >= ends[partition]:
                    remaining.discard(partition)
    finally:
        await consumer.stop()


async def _partitions(settings: KafkaSettings, topic: str) -> tuple[PartitionView, ...]:
    """The partitions of `topic`; LookupError names the existing topics if it does not exist."""
    views = await describe_topics(settings)
    for view in views:
        if view.name == topic:
            return view.partitions
    raise LookupError(f"no topic {topic!r}; existing: {', '.join(v.name for v in views) or 'none'}")
