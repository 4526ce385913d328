"""A broker with SASL/SCRAM and the ACLs derived from the service declarations, as compose and
`make run-full` run them: each service reads and writes its own topics and nothing else, and a
client that does not sign in, or signs in wrongly, is refused."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from infra.local.kafka import KafkaCluster, ensure_kafka_jars
from infra.local.kafka_security import KafkaSecurity
from services.declarations import SERVICES
from shared.events import JOBS_REQUESTED, JOBS_STATUS
from shared.kafka import ensure_topics
from shared.kafka.acls import apply_acls, cluster_acls, principals
from shared.kafka.clients import kafka_consumer, kafka_producer
from shared.settings import KafkaSettings
from tests.conftest import CACHE_DIR

DECLARATIONS = [deployed.declaration for deployed in SERVICES]


@pytest.fixture(scope="module")
def security() -> KafkaSecurity:
    return KafkaSecurity({name: secrets.token_urlsafe(12) for name in principals(DECLARATIONS)})


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, security: KafkaSecurity) -> Iterator[KafkaCluster]:
    state = tmp_path_factory.mktemp("kafka-sasl")
    cluster = KafkaCluster(
        state_dir=state, jars_dir=ensure_kafka_jars(CACHE_DIR), logs_dir=state / "logs", security=security
    )
    cluster.start()
    try:
        cluster.wait_ready(timeout=180)
        admin = cluster.admin_settings
        asyncio.run(ensure_topics(admin, [JOBS_REQUESTED, JOBS_STATUS]))
        asyncio.run(apply_acls(admin, cluster_acls(DECLARATIONS)))
        yield cluster
    finally:
        cluster.stop()


def as_principal(broker: KafkaCluster, security: KafkaSecurity, principal: str) -> KafkaSettings:
    return security.client_settings(KafkaSettings(bootstrap_servers=broker.bootstrap_servers), principal)


async def produce(settings: KafkaSettings, topic: str, value: bytes) -> None:
    producer = kafka_producer(settings, acks="all", enable_idempotence=True, request_timeout_ms=10_000)
    try:
        await producer.start()
        await producer.send_and_wait(topic, value, key=b"job-1")
    finally:
        await producer.stop()


async def read_one(settings: KafkaSettings, topic: str, group: str) -> bytes:
    consumer = kafka_consumer(settings, topic, group_id=group, auto_offset_reset="earliest")
    try:
        await consumer.start()
        record = await asyncio.wait_for(consumer.getone(), 60)
        await consumer.commit()
        value: bytes = record.value
        return value
    finally:
        await consumer.stop()


def test_a_service_writes_and_reads_the_topics_of_its_declaration(
    broker: KafkaCluster, security: KafkaSecurity
) -> None:
    frontend = as_principal(broker, security, "frontend")
    reencoder = as_principal(broker, security, "reencoder")
    asyncio.run(produce(frontend, JOBS_REQUESTED.name, b"requested by the frontend"))
    assert asyncio.run(read_one(reencoder, JOBS_REQUESTED.name, "reencoder")) == b"requested by the frontend"


def test_a_service_cannot_write_a_topic_it_does_not_produce(
    broker: KafkaCluster, security: KafkaSecurity
) -> None:
    reencoder = as_principal(broker, security, "reencoder")
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(produce(reencoder, JOBS_REQUESTED.name, b"a job nobody asked for"))


def test_a_forged_status_from_another_service_is_refused(
    broker: KafkaCluster, security: KafkaSecurity
) -> None:
    """Only the reencoder reports job status: a frontend (or anything holding its password) cannot
    mark someone's job done with renditions of its choosing."""
    frontend = as_principal(broker, security, "frontend")
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(produce(frontend, JOBS_STATUS.name, b'{"status": "done"}'))


def test_a_service_cannot_join_a_group_it_does_not_declare(
    broker: KafkaCluster, security: KafkaSecurity
) -> None:
    metrics = as_principal(broker, security, "metrics")  # reads jobs.requested, in its own group
    with pytest.raises(GroupAuthorizationFailedError):
        asyncio.run(read_one(metrics, JOBS_REQUESTED.name, "reencoder"))


def test_an_unauthenticated_client_is_refused(broker: KafkaCluster) -> None:
    anonymous = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, request_timeout_ms=5_000)
    with pytest.raises(KafkaConnectionError):
        asyncio.run(produce(anonymous, JOBS_REQUESTED.name, b"anonymous"))


def test_a_wrong_password_is_refused(broker: KafkaCluster, security: KafkaSecurity) -> None:
    impostor = as_principal(broker, security, "frontend").model_copy(update={"sasl_password": "guess"})
    with pytest.raises(KafkaError):
        asyncio.run(produce(impostor, JOBS_REQUESTED.name, b"impostor"))
