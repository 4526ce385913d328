"""Stopping a consumer loop that never got started: the brokers accept connections but never answer.

That is what a broker that dies while a service starts up looks like to aiokafka: `start()` waits
for metadata or a group coordinator far longer than any stop grace. `stop()` must end it anyway,
or the process is killed (CI saw monitoring SIGKILLed after 40 s this way).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from services.metrics.aggregator import Aggregator
from services.metrics.stream import MetricStreamReader, SnapshotReader
from shared.events import Topic
from shared.kafka import EventConsumer, EventProducer, Route
from shared.settings import KafkaSettings
from tests.integration.conftest import Probe


@pytest.fixture
async def silent_brokers() -> AsyncIterator[KafkaSettings]:
    """A listening socket that takes connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # Timeouts far beyond the test's patience: only stop() can end the wait.
    yield KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=600_000, close_timeout_s=1.0
    )
    for writer in held:
        writer.close()
    server.close()


async def _stops_promptly(run: Callable[[], Coroutine[Any, Any, None]], stop: Callable[[], None]) -> None:
    task = asyncio.create_task(run())
    await asyncio.sleep(1.0)  # well into start(), waiting on the silent broker
    assert not task.done()
    stop()
    await asyncio.wait_for(task, timeout=15.0)  # the hang this guards against lasts 10 minutes


async def test_an_event_consumer_stops_while_it_is_still_starting(silent_brokers: KafkaSettings) -> None:
    async def ignore(_event: Probe, _delivery: object) -> None:
        return None

    producer = EventProducer(silent_brokers, client_id="unstarted")
    topic = Topic(
        name="never-started", event_type=Probe, partitions=1, key=lambda e: str(e.n), description=""
    )
    consumer = EventConsumer(
        Route(topic, ignore),
        group_id="never-started",
        settings=silent_brokers,
        producer=producer,
        client_id="test",
    )
    await _stops_promptly(consumer.run, consumer.stop)
    await producer.stop()


async def test_the_metrics_readers_stop_while_they_are_still_starting(silent_brokers: KafkaSettings) -> None:
    producer = EventProducer(silent_brokers, client_id="unstarted")
    reader = MetricStreamReader(
        silent_brokers,
        group_id="never-started",
        client_id="test",
        aggregator=Aggregator(),
        producer=producer,
        rewind_s=60.0,
    )
    await _stops_promptly(reader.run, reader.stop)
    snapshots = SnapshotReader(silent_brokers, "test", on_snapshot=lambda _snapshot: None)
    await _stops_promptly(snapshots.run, snapshots.stop)
    await producer.stop()
