"""What the cluster holds, for an operator: its brokers and controller (and, in ZooKeeper mode,
ZooKeeper's health and the brokers' registrations), topics with their partitions, and consumer
groups with their lag. The views are `shared.kafka.cluster`'s; this module opens clients for one look, tries
again when the node it picked is down, and turns a missing topic into a readable error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaConnectionError, NodeNotReadyError, RequestTimedOutError
from pydantic import BaseModel

from shared.events import ALL_TOPICS
from shared.kafka.clients import admin_client, kafka_consumer
from shared.kafka.cluster import ClusterView, GroupView, TopicView, read_cluster, read_groups, read_topics
from shared.kafka.zookeeper import ZooKeeperView, read_zookeeper
from shared.settings import KafkaSettings

CATALOGUE = {topic.name: topic for topic in ALL_TOPICS}
CLIENT_ID = "reencode-ops"
T = TypeVar("T")
_UNKNOWN_TOPIC = 3  # Kafka's UNKNOWN_TOPIC_OR_PARTITION error code


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

    async def fetch() -> list[TopicView]:
        async with admin_client(settings, CLIENT_ID) as admin:
            return await read_topics(admin, names)

    views = []
    for topic in await _with_retries(fetch):
        if topic.internal:
            continue
        if topic.error_code == _UNKNOWN_TOPIC:
            raise LookupError(f"no topic {topic.name!r}")
        if topic.error_code != 0:
            raise LookupError(f"topic {topic.name!r}: Kafka error code {topic.error_code}")
        views.append(topic)
    return views


async def describe_groups(settings: KafkaSettings, group_ids: list[str] | None = None) -> list[GroupView]:
    """Consumer groups (all when `group_ids` is None) with committed offsets and lag per partition."""

    async def fetch() -> list[GroupView]:
        offsets = kafka_consumer(settings, group_id=None, client_id=CLIENT_ID)
        async with admin_client(settings, CLIENT_ID) as admin:
            await offsets.start()
            try:
                return await read_groups(admin, offsets, group_ids)
            finally:
                await offsets.stop()

    return await _with_retries(fetch)


class ClusterOverview(BaseModel):
    """`reencode cluster`: the brokers as the cluster's metadata lists them, and what coordinates them."""

    mode: str
    cluster: ClusterView | None
    #: Why the brokers could not be asked (the ZooKeeper part may still be there).
    error: str | None = None
    zookeeper: ZooKeeperView | None = None


async def describe_cluster(settings: KafkaSettings) -> ClusterOverview:
    """The brokers and controller; in ZooKeeper mode also ZooKeeper's view, read beside them, so
    either part shows while the other is down."""
    zookeeper = (
        asyncio.ensure_future(asyncio.to_thread(read_zookeeper, settings.zookeeper_connect))
        if settings.zookeeper_connect
        else None
    )

    async def fetch() -> ClusterView:
        async with admin_client(settings, CLIENT_ID) as admin:
            return await read_cluster(admin)

    cluster, error = None, None
    try:
        cluster = await _with_retries(fetch)
    except (NodeNotReadyError, KafkaConnectionError, RequestTimedOutError) as failure:
        error = f"{type(failure).__name__}: {failure}"
    return ClusterOverview(
        mode="zookeeper" if zookeeper is not None else "kraft",
        cluster=cluster,
        error=error,
        zookeeper=await zookeeper if zookeeper is not None else None,
    )
