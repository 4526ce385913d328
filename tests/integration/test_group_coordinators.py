"""Monitoring remembers each group's coordinator between looks (issue #18: two FindCoordinator requests
fewer per group every look) and reads the same groups as a fresh lookup; a remembered coordinator
that is wrong or gone is looked up again within the same look."""

from __future__ import annotations

from aiokafka.errors import KafkaError

from shared.kafka import Delivery
from shared.kafka.clients import kafka_consumer
from shared.kafka.cluster import Coordinators, GroupView, read_groups
from tests.integration.conftest import HarnessFactory, Probe, eventually


async def _handled(_event: Probe, _delivery: Delivery) -> None:
    return None


def _essence(views: list[GroupView]) -> list[tuple[str, str, list[tuple[str, int, int | None, int]]]]:
    return [
        (view.group_id, view.state, [(p.topic, p.partition, p.committed, p.end) for p in view.partitions])
        for view in views
    ]


async def test_remembered_coordinator_reads_as_a_fresh_lookup(consumer_harness: HarnessFactory) -> None:
    harness = await consumer_harness()
    harness.start(_handled)
    for n in range(3):
        await harness.publish(n)

    async def all_committed() -> bool:
        try:
            return await harness.committed() == 3
        except KafkaError:  # a broker just started has no coordinator for the group yet
            return False

    await eventually(all_committed)
    offsets = kafka_consumer(harness.kafka, group_id=None)
    await offsets.start()
    try:
        fresh = await read_groups(harness.admin, offsets, [harness.group])
        coordinators = Coordinators()
        first = await read_groups(harness.admin, offsets, [harness.group], coordinators)
        remembered = await read_groups(harness.admin, offsets, [harness.group], coordinators)
        coordinators._known[harness.group] = 987_654  # no such broker: found again, not an error
        recovered = await read_groups(harness.admin, offsets, [harness.group], coordinators)
        assert coordinators._known[harness.group] != 987_654
        every = await read_groups(harness.admin, offsets, None, coordinators)  # one request per node
        again = await read_groups(harness.admin, offsets, None, coordinators)
    finally:
        await offsets.stop()
    assert _essence(fresh)[0][2] == [(harness.topic.name, 0, 3, 3)]
    assert _essence(first) == _essence(remembered) == _essence(recovered) == _essence(fresh)
    ours = [view for view in (*every, *again) if view.group_id == harness.group]
    assert [_essence([view]) for view in ours] == [_essence(fresh)] * 2
    assert len(every) == len(again) >= 1
