"""One `EventConsumer` for several topics (the frame gives a service one per group, issue #18): each
topic's records reach that topic's handler, failures are dead-lettered against their own topic, and
every topic's offsets are committed, on the session's real broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from shared.kafka import Delivery, EventConsumer, Route
from tests.integration.conftest import Harness, HarnessFactory, Probe, eventually


async def _committed(harness: Harness, group: str) -> int | None:
    offsets = await harness.admin.list_consumer_group_offsets(group)
    found = offsets.get(TopicPartition(harness.topic.name, 0))
    return None if found is None else found.offset


async def test_one_consumer_routes_each_topic_to_its_handler_and_commits_both(
    consumer_harness: HarnessFactory,
) -> None:
    first, second = await consumer_harness(), await consumer_harness()
    seen: list[tuple[str, int]] = []

    async def on_first(event: Probe, delivery: Delivery) -> None:
        assert delivery.topic == first.topic.name
        seen.append(("first", event.n))

    async def on_second(event: Probe, delivery: Delivery) -> None:
        assert delivery.topic == second.topic.name
        seen.append(("second", event.n))

    consumer = EventConsumer(
        Route(first.topic, on_first),
        Route(second.topic, on_second),
        group_id=first.group,
        settings=first.kafka,
        producer=first.producer,
        client_id="test-shared",
    )
    first.consumers.append((consumer, asyncio.create_task(consumer.run())))
    assert consumer.reads == [(first.group, first.topic.name), (first.group, second.topic.name)]

    await first.publish(1)
    await second.send_raw(b"not a Probe")
    await second.publish(2)
    await first.publish(3)

    await eventually(lambda: len(seen) == 3)
    assert sorted(seen) == [("first", 1), ("first", 3), ("second", 2)]
    # Each topic keeps its order; the two interleave as their fetches come back.
    assert [n for topic, n in seen if topic == "first"] == [1, 3]

    async def both_committed() -> bool:
        return (await _committed(first, first.group), await _committed(second, first.group)) == (2, 2)

    await eventually(both_committed)
    [letter] = await second.dead_letters()
    assert (letter.source_topic, letter.consumer_group) == (second.topic.name, first.group)
    assert letter.reason.startswith("invalid Probe")
    assert await first.dead_letters() == []


async def test_a_consumer_needs_one_route_per_topic(consumer_harness: HarnessFactory) -> None:
    harness = await consumer_harness()

    async def ignore(_event: Probe, _delivery: Delivery) -> None:
        return None

    for routes in ((), (Route(harness.topic, ignore), Route(harness.topic, ignore))):
        with pytest.raises(ValueError, match="one route per topic"):
            EventConsumer(
                *routes,
                group_id=harness.group,
                settings=harness.kafka,
                producer=harness.producer,
                client_id="test",
            )
