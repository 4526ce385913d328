"""`reencode topics|groups|tail|dlq`, run as an operator runs them, on a Kafka node of their own
(a replay publishes to the catalogue's topics, which must not reach other tests' workers)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from infra.local.kafka import KafkaCluster, ensure_kafka_jars
from infra.local.stack import REPO_ROOT
from infra.ops.reading import read_topic
from shared.events import (
    DEAD_LETTERS,
    JOBS_REQUESTED,
    JOBS_STATUS,
    DeadLetter,
    Event,
    JobRequested,
    JobStatus,
    JobStatusChanged,
    MediaKind,
    Topic,
    new_id,
)
from shared.kafka import EventProducer, ensure_topics
from shared.kafka.clients import kafka_consumer
from shared.settings import KafkaSettings
from tests.conftest import CACHE_DIR


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSettings]:
    state = tmp_path_factory.mktemp("ops-kafka")
    cluster = KafkaCluster(state, ensure_kafka_jars(CACHE_DIR), nodes=1, heap="256m")
    cluster.start()
    try:
        cluster.wait_ready()
        settings = KafkaSettings(bootstrap_servers=cluster.bootstrap_servers)
        asyncio.run(ensure_topics(settings))
        yield settings
    finally:
        cluster.stop()


def reencode(kafka: KafkaSettings, *args: str) -> subprocess.CompletedProcess[str]:
    """The `reencode` command line in a process of its own, with a wide terminal for its tables."""
    env = os.environ | {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "infra.local", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )


def publish(kafka: KafkaSettings, topic: Topic[Event], *events: Event) -> None:
    async def send() -> None:
        async with EventProducer(kafka, client_id="ops-test") as producer:
            for event in events:
                await producer.publish(topic, event)

    asyncio.run(send())


def job_requested(job_id: str) -> JobRequested:
    return JobRequested(
        correlation_id=new_id(),
        job_id=job_id,
        kind=MediaKind.IMAGE,
        source_key=f"{job_id}/original",
        filename="cat.jpg",
        content_type="image/jpeg",
        size_bytes=1234,
    )


def job_ids_on(kafka: KafkaSettings, topic: Topic[JobRequested]) -> list[str]:
    async def read() -> list[str]:
        records = read_topic(kafka, topic.name, from_beginning=True, follow=False)
        return [r.event.job_id async for r in records if isinstance(r.event, JobRequested)]

    return asyncio.run(read())


def test_topics_list_and_describe_show_partitions_and_the_catalogue(kafka: KafkaSettings) -> None:
    listing = reencode(kafka, "topics", "list")
    assert listing.returncode == 0, listing.stderr
    for topic in (JOBS_REQUESTED, JOBS_STATUS, DEAD_LETTERS):
        assert topic.name in listing.stdout
        assert topic.description in listing.stdout
    described = reencode(kafka, "topics", "describe", JOBS_REQUESTED.name)
    assert described.returncode == 0, described.stderr
    rows = [line for line in described.stdout.splitlines() if line.strip().startswith("│")]
    assert len(rows) == JOBS_REQUESTED.partitions  # one row per partition

    missing = reencode(kafka, "topics", "describe", "no-such-topic")
    assert missing.returncode == 1
    assert "no-such-topic" in missing.stdout


def test_groups_show_the_lag_of_uncommitted_records(kafka: KafkaSettings) -> None:
    job_id = new_id()
    statuses = [
        JobStatusChanged(correlation_id=new_id(), job_id=job_id, status=status, worker_id="w1")
        for status in (JobStatus.PROCESSING, JobStatus.DONE)
    ]
    publish(kafka, JOBS_STATUS, *statuses)  # type: ignore[arg-type]

    async def commit_first_only() -> None:
        consumer = kafka_consumer(kafka, group_id="ops-lag")
        await consumer.start()
        try:
            # One job id: both records are in one partition; commit after the first of them.
            partitions = [TopicPartition(JOBS_STATUS.name, p) for p in range(JOBS_STATUS.partitions)]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            partition = next(tp for tp, end in ends.items() if end == 2)
            await consumer.commit({partition: 1})
        finally:
            await consumer.stop()

    asyncio.run(commit_first_only())
    result = reencode(kafka, "groups", "ops-lag")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "ops-lag" in line)
    assert row.split("│")[-2].strip() == "1", result.stdout


def test_tail_prints_each_event_decoded(kafka: KafkaSettings) -> None:
    job_id = new_id()
    publish(kafka, JOBS_REQUESTED, job_requested(job_id))  # type: ignore[arg-type]
    result = reencode(kafka, "tail", JOBS_REQUESTED.name, "--from-beginning", "--idle-timeout", "3")
    assert result.returncode == 0, result.stderr
    assert "JobRequested" in result.stdout
    assert f"job_id={job_id}" in result.stdout
    assert "filename=cat.jpg" in result.stdout


def test_dlq_replay_republishes_matching_letters_and_skips_undecodable_ones(kafka: KafkaSettings) -> None:
    replayable, other = new_id(), new_id()
    letters = [
        _letter(job_requested(replayable).model_dump_json(), "storage down: ops-1"),
        _letter('{"job_id": "broken"}', "invalid JobRequested: ops-1"),
        _letter(job_requested(other).model_dump_json(), "another reason"),
    ]
    publish(kafka, DEAD_LETTERS, *letters)  # type: ignore[arg-type]

    dry = reencode(kafka, "dlq", "replay", "--reason", "ops-1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would replay 1 of 2 matching dead letter(s)" in dry.stdout
    assert "payload still undecodable" in dry.stdout
    assert replayable not in job_ids_on(kafka, JOBS_REQUESTED)

    real = reencode(kafka, "dlq", "replay", "--reason", "ops-1", "--topic", JOBS_REQUESTED.name)
    assert real.returncode == 0, real.stderr
    assert "replayed 1 of 2" in real.stdout
    replayed = job_ids_on(kafka, JOBS_REQUESTED)
    assert replayable in replayed
    assert other not in replayed


def _letter(payload: str, reason: str) -> DeadLetter:
    return DeadLetter(
        correlation_id=new_id(),
        source_topic=JOBS_REQUESTED.name,
        partition=0,
        offset=7,
        key=None,
        payload=payload,
        reason=reason,
        attempts=3,
        consumer_group="reencoder",
    )


def test_commands_explain_an_unreachable_cluster(tmp_path: Path) -> None:
    nowhere = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    result = reencode(nowhere, "topics", "list")
    assert result.returncode == 1
    assert "cannot reach Kafka" in result.stdout


def test_groups_show_which_member_holds_each_partition(kafka: KafkaSettings) -> None:
    async def while_a_member_is_in_the_group() -> subprocess.CompletedProcess[str]:
        consumer = kafka_consumer(
            kafka, JOBS_REQUESTED.name, group_id="ops-live", client_id="ops-live-member"
        )
        await consumer.start()
        try:
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=200)
            # In a thread: the consumer keeps heartbeating on this loop meanwhile.
            return await asyncio.to_thread(reencode, kafka, "groups", "ops-live", "--partitions")
        finally:
            await consumer.stop()

    result = asyncio.run(while_a_member_is_in_the_group())
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "ops-live" in line]
    assert len(rows) == JOBS_REQUESTED.partitions, result.stdout
    assert all("ops-live-member" in row and "Stable" in row for row in rows), result.stdout


def test_tail_of_a_missing_topic_names_the_existing_ones(kafka: KafkaSettings) -> None:
    result = reencode(kafka, "tail", "jobs.requestd", "--idle-timeout", "1")
    assert result.returncode == 1
    assert "no topic 'jobs.requestd'" in result.stdout
    assert JOBS_REQUESTED.name in result.stdout
