"""What the cluster holds: topics with their partitions, and consumer groups with their lag."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError, RequestTimedOutError

from shared.events import ALL_TOPICS
from shared.settings import KafkaSettings

CATALOGUE = {topic.name: topic for topic in ALL_TOPICS}
T = TypeVar("T")
_UNKNOWN_TOPIC = 3  # Kafka's UNKNOWN_TOPIC_OR_PARTITION error code


@dataclass(frozen=True)
class PartitionView:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)


@dataclass(frozen=True)
class TopicView:
    name: str
    partitions: tuple[PartitionView, ...]
    #: The catalogue's description, or "" for a topic the project does not define.
    description: str

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    def leaders(self) -> set[int]:
        return {p.leader for p in self.partitions}


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    #: None while the group has committed nothing on this partition.
    committed: int | None
    end: int
    #: The client id of the member the partition is assigned to now, if any.
    owner: str | None = None

    @property
    def lag(self) -> int | None:
        """Records behind the end; None without a commit (where it starts depends on its reset policy)."""
        if self.committed is None:
            return None
        # Clamped: a commit read just after a newer end offset must not show negative lag.
        return max(0, self.end - self.committed)


@dataclass(frozen=True)
class GroupView:
    group_id: str
    state: str
    members: int
    partitions: tuple[PartitionLag, ...]

    @property
    def total_lag(self) -> int:
        return sum(p.lag or 0 for p in self.partitions)


@asynccontextmanager
async def admin_client(settings: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="reencode-ops",
        request_timeout_ms=settings.request_timeout_ms,
    )
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def _with_retries(call: Callable[[], Awaitable[T]], attempts: int = 4) -> T:
    """`call()`, again with a fresh client when a node it picked is down: a degraded cluster is
    exactly when an operator looks, and the client's first choice may be the dead node."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except (NodeNotReadyError, KafkaConnectionError, RequestTimedOutError):
            if attempt == attempts:
                raise
            await asyncio.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


async def describe_topics(settings: KafkaSettings, names: list[str] | None = None) -> list[TopicView]:
    """Topics (all but Kafka's internal ones when `names` is None), sorted by name."""

    async def fetch() -> list[Any]:
        async with admin_client(settings) as admin:
            topics: list[Any] = await admin.describe_topics(names)
            return topics

    raw = await _with_retries(fetch)
    views = []
    for topic in raw:
        if topic.get("is_internal") or topic["topic"].startswith("__"):
            continue
        if topic["error_code"] == _UNKNOWN_TOPIC:
            raise LookupError(f"no topic {topic['topic']!r}")
        if topic["error_code"] != 0:
            raise LookupError(f"topic {topic['topic']!r}: Kafka error code {topic['error_code']}")
        partitions = tuple(
            sorted(
                (
                    PartitionView(
                        partition=p["partition"],
                        leader=p["leader"],
                        replicas=tuple(p["replicas"]),
                        isr=tuple(p["isr"]),
                    )
                    for p in topic["partitions"]
                ),
                key=lambda p: p.partition,
            )
        )
        known = CATALOGUE.get(topic["topic"])
        views.append(TopicView(topic["topic"], partitions, known.description if known else ""))
    return sorted(views, key=lambda view: view.name)


async def describe_groups(settings: KafkaSettings, group_ids: list[str] | None = None) -> list[GroupView]:
    """Consumer groups (all when `group_ids` is None) with committed offsets and lag per partition."""
    return await _with_retries(lambda: _describe_groups(settings, group_ids))


async def _describe_groups(settings: KafkaSettings, group_ids: list[str] | None) -> list[GroupView]:
    async with admin_client(settings) as admin:
        if group_ids is None:
            group_ids = sorted(str(group[0]) for group in await admin.list_consumer_groups())
        committed: dict[str, dict[TopicPartition, int]] = {}
        owners: dict[str, dict[TopicPartition, str]] = {}
        states: dict[str, tuple[str, int]] = {}
        for group_id in group_ids:
            offsets = await admin.list_consumer_group_offsets(group_id)
            committed[group_id] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
            response = (await admin.describe_consumer_groups([group_id]))[0]
            # DescribeGroupsResponse.groups: [(error, group_id, state, protocol_type, protocol, members, ...)]
            group = response.groups[0]
            states[group_id] = (str(group[2]), len(group[5]))
            owners[group_id] = _assigned_partitions(group[5]) if group[3] == "consumer" else {}
    partitions = sorted({tp for group_id in group_ids for tp in {*committed[group_id], *owners[group_id]}})
    ends = await end_offsets(settings, partitions)
    return [
        GroupView(
            group_id=group_id,
            state=states[group_id][0],
            members=states[group_id][1],
            partitions=tuple(
                PartitionLag(
                    tp.topic, tp.partition, committed[group_id].get(tp), ends[tp], owners[group_id].get(tp)
                )
                for tp in sorted({*committed[group_id], *owners[group_id]})
            ),
        )
        for group_id in group_ids
    ]


def _assigned_partitions(members: list[tuple[Any, ...]]) -> dict[TopicPartition, str]:
    """Which member (by client id) holds which partition, from the members' assignments.

    A member is `(member_id, [group_instance_id,] client_id, client_host, metadata, assignment)`
    depending on the response version, so fields are taken from the end.
    """
    owners: dict[TopicPartition, str] = {}
    for member in members:
        assignment, client_id = member[-1], str(member[-4])
        if assignment:
            for tp in ConsumerProtocolMemberAssignment.decode(assignment).partitions():
                owners[tp] = client_id
    return owners


async def end_offsets(settings: KafkaSettings, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return dict(ends)
    finally:
        await consumer.stop()
