"""What the cluster holds, for an operator: topics with their partitions, and consumer groups with
their lag. The views are `shared.kafka.cluster`'s; this module opens clients for one look, tries
again when the node it picked is down, and turns a missing topic into a readable error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaConnectionError, NodeNotReadyError, RequestTimedOutError

from shared.events import ALL_TOPICS
from shared.kafka.clients import admin_client, kafka_consumer
from shared.kafka.cluster import GroupView, TopicView, read_groups, read_topics
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
