"""Kafka 3.9's ZooKeeper-to-KRaft migration on the local two-broker cluster with data in it, the
services running throughout: topics, records and committed offsets survive, the site keeps working,
and afterwards ZooKeeper can be switched off. About two and a half minutes of rolling restarts on
two cores, so it runs with `make test-migration`, not `make test`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import NewTopic

from infra.local.processes import free_port
from infra.local.stack import LocalStack, StackConfig
from infra.local.zookeeper_cluster import ZooKeeperKafkaCluster
from infra.local.zookeeper_migration import MIGRATED, migrate_to_kraft
from infra.ops.cluster_view import describe_groups, describe_topics
from shared.kafka.clients import admin_client, kafka_consumer, kafka_producer
from shared.settings import KafkaSettings
from tests.conftest import CACHE_DIR
from tests.system.conftest import Site, start_site
from tests.system.test_zookeeper import ENV

TOPIC, GROUP = "migration-check", "migration-check"
RECORDS, COMMITTED = 20, 12


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    config = StackConfig.on_free_ports(tmp_path_factory.mktemp("migration"), CACHE_DIR, kafka_nodes=2)
    config.zookeeper_port = free_port()
    config.service_env = dict(ENV)
    stack = LocalStack(config)
    try:
        stack.start_infrastructure()
        running = start_site(stack, reencoders=1)
        yield running
        running.http.close()
    finally:
        stack.stop()


def test_topics_and_committed_offsets_survive_the_migration_and_the_site_keeps_working(site: Site) -> None:
    kafka = site.stack.config.kafka
    cluster = site.stack.kafka
    assert isinstance(cluster, ZooKeeperKafkaCluster)
    before_job = site.upload_ok()
    assert site.wait_for(before_job)["status"] == "done"
    asyncio.run(_write_and_commit(kafka))
    topics_before = {t.name: len(t.partitions) for t in asyncio.run(describe_topics(kafka))}
    reencoder_before = _committed(kafka, "reencoder")

    controller = migrate_to_kraft(cluster, progress=lambda step: None)

    assert controller.log_has(MIGRATED)
    assert {t.name: len(t.partitions) for t in asyncio.run(describe_topics(kafka))} == topics_before
    assert _committed(kafka, GROUP) == {TopicPartition(TOPIC, 0): COMMITTED}
    reencoder_after = _committed(kafka, "reencoder")
    assert all(reencoder_after[tp] >= offset for tp, offset in reencoder_before.items())
    # The group resumes where it committed: exactly the records after it.
    assert asyncio.run(_resume(kafka)) == [f"record {n}".encode() for n in range(COMMITTED, RECORDS)]
    # KRaft now: ZooKeeper off, and the site still takes and finishes uploads.
    cluster.zookeeper.stop()
    assert site.wait_for(site.upload_ok(), timeout=120)["status"] == "done"
    assert site.job(before_job)["status"] == "done"


async def _write_and_commit(kafka: KafkaSettings) -> None:
    async with admin_client(kafka, "tests") as admin:
        await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=2)])
    producer = kafka_producer(kafka, client_id="tests", acks="all")
    await producer.start()
    try:
        for n in range(RECORDS):
            await producer.send_and_wait(TOPIC, f"record {n}".encode(), partition=0)
    finally:
        await producer.stop()
    consumer = kafka_consumer(kafka, group_id=GROUP, client_id="tests")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(TOPIC, 0)])
        await consumer.commit({TopicPartition(TOPIC, 0): COMMITTED})
    finally:
        await consumer.stop()


async def _resume(kafka: KafkaSettings) -> list[bytes]:
    consumer = kafka_consumer(kafka, group_id=GROUP, client_id="tests")
    partition = TopicPartition(TOPIC, 0)
    consumer_values: list[bytes] = []
    await consumer.start()
    try:
        consumer.assign([partition])
        while len(consumer_values) < RECORDS - COMMITTED:
            batch = await consumer.getmany(partition, timeout_ms=30_000)
            if not batch:
                break
            consumer_values += [bytes(record.value) for record in batch[partition]]
    finally:
        await consumer.stop()
    return consumer_values


def _committed(kafka: KafkaSettings, group: str) -> dict[TopicPartition, int]:
    [view] = asyncio.run(describe_groups(kafka, [group]))
    return {
        TopicPartition(p.topic, p.partition): p.committed for p in view.partitions if p.committed is not None
    }
