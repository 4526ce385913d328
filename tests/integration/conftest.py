"""The consumer loop on the session's real broker: a factory fixture in the style of arq's `worker`.

`consumer_harness(handler, ...)` builds an `EventConsumer` for a fresh topic and group, runs it in
the test's event loop and stops and closes it on teardown. Tests publish to its topic, then wait
with `eventually` (a deadline, never a sleep) for what they expect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, cast

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from infra.local.stack import LocalStack
from shared.events import DEAD_LETTERS, DeadLetter, Event, Topic, new_id
from shared.kafka import EventConsumer, EventProducer, RetryPolicy, Route, ensure_topics
from shared.kafka.clients import kafka_admin, kafka_consumer
from shared.kafka.consumer import GiveUpHook, Handler
from shared.settings import KafkaSettings


class Probe(Event):
    """The test event: a number to tell records apart."""

    schema_version: Literal[1] = 1
    n: int


async def eventually(condition: Callable[[], bool | Awaitable[bool]], within_s: float = 20.0) -> None:
    """Wait until `condition()` holds, polling; fail after `within_s` seconds."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"not true within {within_s:.0f} s: {getattr(condition, '__name__', condition)}"
            )
        await asyncio.sleep(0.05)


@dataclass
class Harness:
    """One fresh topic and group, the consumers running on it, and ways to look at the broker."""

    kafka: KafkaSettings
    topic: Topic[Probe]
    group: str
    producer: EventProducer
    raw: AIOKafkaProducer
    admin: AIOKafkaAdminClient
    consumers: list[tuple[EventConsumer, asyncio.Task[None]]] = field(default_factory=list)

    def start(self, handler: Handler[Probe], **options: object) -> EventConsumer:
        """Another member of the group, running `handler` (options go to `EventConsumer`)."""
        options.setdefault(
            "retry", RetryPolicy(first_backoff_s=0.01, max_backoff_s=0.05, outage_max_backoff_s=0.05)
        )
        options.setdefault("poll_while_busy_s", 0.2)
        give_up = cast(GiveUpHook[Probe] | None, options.pop("on_give_up", None))
        consumer = EventConsumer(
            Route(self.topic, handler, give_up),
            group_id=self.group,
            settings=self.kafka,
            producer=self.producer,
            # The group hands partitions out in the order of member ids, which start with this.
            client_id=str(options.pop("client_id", f"test-{len(self.consumers)}")),
            **options,  # type: ignore[arg-type]
        )
        self.consumers.append((consumer, asyncio.create_task(consumer.run())))
        return consumer

    async def stop(self, consumer: EventConsumer, within_s: float = 20.0) -> None:
        """`stop()` it and wait for its loop to return (it has left the group then)."""
        consumer.stop()
        task = next(task for each, task in self.consumers if each is consumer)
        await asyncio.wait_for(asyncio.shield(task), within_s)

    async def publish(self, n: int) -> None:
        await self.producer.publish(self.topic, Probe(correlation_id=new_id(), n=n))

    async def send_raw(self, value: bytes) -> None:
        """A record no producer of ours would write."""
        await self.raw.send_and_wait(self.topic.name, value, key=b"raw")

    async def committed(self) -> int | None:
        offsets = await self.admin.list_consumer_group_offsets(self.group)
        found = offsets.get(TopicPartition(self.topic.name, 0))
        return None if found is None or found.offset < 0 else found.offset

    async def dead_letters(self) -> list[DeadLetter]:
        """The dead letters about this harness's topic, read from the beginning of the topic."""
        reader = kafka_consumer(self.kafka, DEAD_LETTERS.name, group_id=None, auto_offset_reset="earliest")
        await reader.start()
        try:
            partition = TopicPartition(DEAD_LETTERS.name, 0)
            end = (await reader.end_offsets([partition]))[partition]
            letters: list[DeadLetter] = []
            while await reader.position(partition) < end:
                for records in (await reader.getmany(timeout_ms=1000)).values():
                    for record in records:
                        letter = DeadLetter.model_validate_json(record.value or b"")
                        if letter.source_topic == self.topic.name:
                            letters.append(letter)
            return letters
        finally:
            await reader.stop()


class HarnessFactory(Protocol):
    async def __call__(self, partitions: int = 1) -> Harness: ...


@pytest.fixture
def kafka(stack: LocalStack) -> KafkaSettings:
    """The session's broker, with timeouts short enough for a rebalance to be quick."""
    return stack.config.kafka.model_copy(
        update={"session_timeout_ms": 6000, "heartbeat_interval_ms": 500, "close_timeout_s": 5.0}
    )


@pytest.fixture
async def consumer_harness(kafka: KafkaSettings) -> AsyncIterator[HarnessFactory]:
    """Builds harnesses on fresh topics; stops every consumer and closes every client afterwards."""
    made: list[Harness] = []

    async def make(partitions: int = 1) -> Harness:
        name = f"test.consumer.{new_id()[:12]}"
        topic = Topic(
            name=name, event_type=Probe, partitions=partitions, key=lambda e: str(e.n), description=""
        )
        await ensure_topics(kafka, [topic])
        producer = EventProducer(kafka, client_id="test-producer")
        await producer.start()
        raw = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
        await raw.start()
        admin = kafka_admin(kafka, client_id="test-admin")
        await admin.start()
        harness = Harness(kafka, topic, f"test-group-{new_id()[:12]}", producer, raw, admin)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        for consumer, task in harness.consumers:
            consumer.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
        await harness.producer.stop()
        await harness.raw.stop()
        await harness.admin.close()
