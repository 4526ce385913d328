"""The one place Kafka clients are built from `KafkaSettings`, and the one "seek to a time" helper.

`kafka_consumer(settings, ...)` gives every consumer the cluster address and the timeouts of the
settings (session, heartbeat, poll interval, request), so a knob changed in the environment reaches
them all; what differs between consumers (group, client id, offset reset, commits, isolation, an
assignor) is said by keyword where the consumer is built. `kafka_admin` does the same for the admin
client, and `admin_client` is the started-and-closed form for a one-off look. `kafka_producer`
builds every producer. Each gets `connection_options(settings)`: the address and, where the brokers
authenticate (compose, `make run-full`), the SASL/SCRAM principal this process signs in as.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.settings import KafkaSettings

OffsetReset = Literal["earliest", "latest", "none"]
IsolationLevel = Literal["read_uncommitted", "read_committed"]


def connection_options(settings: KafkaSettings) -> dict[str, Any]:
    """Where the cluster is and who we are on it: the keywords every aiokafka client is built with.

    SASL needs both a username and a password; one without the other is a configuration mistake
    said at start-up, not a confusing authentication failure later.
    """
    options: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers}
    if settings.security_protocol == "PLAINTEXT":
        return options
    if not settings.sasl_username or not settings.sasl_password:
        raise ValueError(
            f"KAFKA_SECURITY_PROTOCOL={settings.security_protocol} needs KAFKA_SASL_USERNAME and "
            "KAFKA_SASL_PASSWORD (the principal this service signs in as)"
        )
    return options | {
        "security_protocol": settings.security_protocol,
        "sasl_mechanism": settings.sasl_mechanism,
        "sasl_plain_username": settings.sasl_username,
        "sasl_plain_password": settings.sasl_password,
    }


def kafka_producer(settings: KafkaSettings, **options: Any) -> AIOKafkaProducer:
    """An unstarted producer on the settings' cluster; `options` go to `AIOKafkaProducer` as they are."""
    return AIOKafkaProducer(**(connection_options(settings) | options))


def kafka_consumer(
    settings: KafkaSettings,
    *topics: str,
    group_id: str | None,
    client_id: str | None = None,
    enable_auto_commit: bool = False,
    auto_offset_reset: OffsetReset = "latest",
    isolation_level: IsolationLevel = "read_uncommitted",
    request_timeout_ms: int | None = None,
    **options: Any,
) -> AIOKafkaConsumer:
    """An unstarted consumer of `topics` (none: assign partitions yourself) on the settings' cluster.

    `group_id=None` is a group-less reader: nothing is committed and no group is disturbed. Commits
    are manual unless `enable_auto_commit` says otherwise. `options` go to `AIOKafkaConsumer` as
    they are (e.g. `partition_assignment_strategy`, or `max_poll_interval_ms` to override the
    settings'); `client_id=None` keeps aiokafka's default.
    """
    extra: dict[str, Any] = {"client_id": client_id} if client_id is not None else {}
    timeouts: dict[str, Any] = {
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "max_poll_interval_ms": settings.max_poll_interval_ms,
        "request_timeout_ms": request_timeout_ms or settings.request_timeout_ms,
    }
    return AIOKafkaConsumer(
        *topics,
        **connection_options(settings),
        group_id=group_id,
        enable_auto_commit=enable_auto_commit,
        auto_offset_reset=auto_offset_reset,
        isolation_level=isolation_level,
        **(timeouts | extra | options),
    )


def kafka_admin(
    settings: KafkaSettings, client_id: str = "reencode-admin", request_timeout_ms: int | None = None
) -> AIOKafkaAdminClient:
    """An unstarted admin client on the settings' cluster."""
    return AIOKafkaAdminClient(
        **connection_options(settings),
        client_id=client_id,
        request_timeout_ms=request_timeout_ms or settings.request_timeout_ms,
    )


@asynccontextmanager
async def admin_client(
    settings: KafkaSettings, client_id: str = "reencode-admin", request_timeout_ms: int | None = None
) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on the way out."""
    admin = kafka_admin(settings, client_id, request_timeout_ms)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of `topic` in the started consumer's metadata (partition 0 if it has none yet)."""
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]


async def seek_to_time(
    consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition], timestamp_ms: int
) -> None:
    """Move each of the consumer's assigned `partitions` to its first record at or after
    `timestamp_ms` (milliseconds since the epoch), or to its end when it has none that recent.

    "The end" is the end offset read before the search, sought explicitly: a record that lands
    meanwhile is read, where `seek_to_end` (resolved lazily, at the next fetch) would skip it.
    """
    wanted = list(partitions)
    if not wanted:
        return
    ends = await consumer.end_offsets(wanted)
    found = await consumer.offsets_for_times(dict.fromkeys(wanted, timestamp_ms))
    for tp in wanted:
        at = found.get(tp)
        consumer.seek(tp, ends[tp] if at is None else at.offset)
