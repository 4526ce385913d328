"""Topic set-up: the catalogue's topics are created with explicit partition counts at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, RequestTimedOutError, TopicAlreadyExistsError

from shared.events import ALL_TOPICS, Topic
from shared.kafka.clients import kafka_admin
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)


async def ensure_topics(
    settings: KafkaSettings, topics: Iterable[Topic[Any]] = ALL_TOPICS, timeout_s: float = 60.0
) -> list[str]:
    """Create every topic that does not exist yet; returns the names created.

    Existing topics are left alone (partitions can only grow, and that is an operator's decision).
    Retries while the cluster is still starting, up to `timeout_s`.
    """
    wanted = {topic.name: topic for topic in topics}
    admin = kafka_admin(settings)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(1)
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=topic.name,
                num_partitions=topic.partitions,
                replication_factor=settings.replication_factor,
            )
            for name, topic in wanted.items()
            if name not in existing
        ]
        if missing:
            # Another instance may have created some in the meantime.
            try:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
            except RequestTimedOutError:
                # A ZooKeeper-mode cluster answers once every broker has created the logs, which can
                # outlast the request on a loaded machine although the controller has the topics.
                await _wait_until_listed(admin, {topic.name for topic in missing}, deadline)
            log.info("created topics %s", [topic.name for topic in missing])
        return [topic.name for topic in missing]
    finally:
        await admin.close()


async def _wait_until_listed(admin: AIOKafkaAdminClient, names: set[str], deadline: float) -> None:
    """Until every topic of `names` is in the cluster's metadata; the timeout again past `deadline`."""
    loop = asyncio.get_running_loop()
    while absent := names - set(await admin.list_topics()):
        if loop.time() > deadline:
            raise RequestTimedOutError(f"topics {sorted(absent)} not created")
        await asyncio.sleep(1)
