"""Faults lose nothing: the outbox, its relay and the sweeper on real Kafka, MinIO and both databases.

Each bug these tests pin down was real before the outbox: a frontend dying between the job's insert
and Kafka's acknowledgement left the job queued forever; a timed-out publish whose record had
arrived failed the job, so the worker's DONE was ignored; an original stored before a failed insert
stayed in the bucket for ever.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from infra.local.stack import LocalStack
from services.frontend.context import Backends, FrontendContext
from services.frontend.job_queue import enqueue
from services.frontend.job_store import JobStore, StuckDeadlines
from services.frontend.outbox import OutboxRelay, OutboxSettings, OutboxStore
from services.frontend.sweeper import Sweeper, SweeperSettings, SweepReport
from shared.database import JobRow, OutboxRow, create_schema, make_engine
from shared.events import (
    JOBS_REQUESTED,
    JobRequested,
    JobStatus,
    JobStatusChanged,
    MediaKind,
    new_id,
    utc_now,
)
from shared.kafka import EventProducer
from shared.settings import DatabaseSettings, KafkaSettings, MediaLimits, VideoLimits
from shared.storage import MediaStore
from tests.integration.conftest import eventually

#: Fast enough for a test; the defaults are for production.
FAST = OutboxSettings(
    poll_interval_s=0.1, publish_timeout_s=3.0, inline_publish_timeout_s=3.0, retry_after_s=0.1, claim_s=30.0
)
DEADLINES = StuckDeadlines(queued_s=60.0, processing_s=120.0)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(DatabaseSettings(url=database_url))
    create_schema(made)
    yield made
    made.dispose()


@pytest.fixture
def jobs(engine: Engine) -> JobStore:
    return JobStore(engine, DEADLINES)


@pytest.fixture
async def producer(kafka: KafkaSettings) -> AsyncIterator[EventProducer]:
    async with EventProducer(kafka.model_copy(update={"request_timeout_ms": 5000}), "test-outbox") as made:
        yield made


@pytest.fixture
def store(stack: LocalStack) -> MediaStore:
    """Buckets of this test's own: the sweeper looks at every object of its uploads bucket."""
    suffix = new_id()[:10]
    settings = stack.config.storage.model_copy(
        update={"uploads_bucket": f"test-uploads-{suffix}", "renditions_bucket": f"test-renditions-{suffix}"}
    )
    made = MediaStore(settings)
    made.ensure_buckets()
    return made


def _request(user_id: str | None = None) -> JobRequested:
    job_id = new_id()
    return JobRequested(
        correlation_id=new_id(),
        job_id=job_id,
        kind=MediaKind.IMAGE,
        source_key=f"{job_id}/original",
        filename="cat.jpg",
        content_type="image/jpeg",
        size_bytes=3,
        user_id=user_id,
    )


def _records(engine: Engine, job_id: str) -> list[OutboxRow]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxRow).where(OutboxRow.job_id == job_id)))


def _age(engine: Engine, job_id: str, by: timedelta) -> None:
    """Make the job, and its sent requests, look `by` older."""
    with engine.begin() as connection:
        connection.execute(update(JobRow).where(JobRow.id == job_id).values(updated_at=utc_now() - by))
        connection.execute(
            update(OutboxRow)
            .where(OutboxRow.job_id == job_id, OutboxRow.sent_at.is_not(None))
            .values(sent_at=utc_now() - by)
        )


async def _published(kafka: KafkaSettings, start: dict[TopicPartition, int], job_id: str) -> list[Any]:
    """The records keyed `job_id` on jobs.requested after the offsets `start`."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await reader.start()
    try:
        reader.assign(list(start))
        for partition, offset in start.items():
            reader.seek(partition, offset)
        end = await reader.end_offsets(list(start))
        found = []
        while [p for p in start if await reader.position(p) < end[p]]:
            for records in (await reader.getmany(timeout_ms=1000)).values():
                found += [record for record in records if record.key == job_id.encode()]
        return found
    finally:
        await reader.stop()


async def _end_offsets(kafka: KafkaSettings) -> dict[TopicPartition, int]:
    reader = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None)
    await reader.start()
    try:
        partitions = [TopicPartition(JOBS_REQUESTED.name, n) for n in range(JOBS_REQUESTED.partitions)]
        return dict(await reader.end_offsets(partitions))
    finally:
        await reader.stop()


# --- the outbox record is written with the job -----------------------------------------------------


def test_a_job_and_its_request_are_committed_together(jobs: JobStore, engine: Engine) -> None:
    request = _request()
    jobs.create(request)
    [record] = _records(engine, request.job_id)
    assert (record.topic, record.key, record.sent_at) == (JOBS_REQUESTED.name, request.job_id, None)
    assert JobRequested.model_validate_json(record.payload) == request

    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        jobs.create(request)  # the second transaction wrote neither row nor record
    assert len(_records(engine, request.job_id)) == 1

    orphan = _request(user_id="no-such-user")
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        jobs.create(orphan)
    assert jobs.get(orphan.job_id) is None
    assert _records(engine, orphan.job_id) == []


def test_two_relays_never_claim_the_same_record(jobs: JobStore, engine: Engine) -> None:
    for _ in range(40):
        jobs.create(_request())
    stores = [OutboxStore(engine) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda store: store.claim(15, 30.0), stores))
    claimed = [record.id for batch in batches for record in batch]
    assert len(claimed) == len(set(claimed))  # nobody got a record another one holds
    rest = [record.id for record in stores[0].claim(100, 30.0)]
    assert sorted(claimed + rest) == sorted(set(claimed + rest))
    assert len(claimed + rest) == 40
    assert stores[1].claim(100, 30.0) == []  # all held until their claims expire


# --- the relay -----------------------------------------------------------------------------------


async def test_the_relay_publishes_pending_records_as_the_catalogue_says_and_marks_them_sent(
    jobs: JobStore, engine: Engine, producer: EventProducer, kafka: KafkaSettings
) -> None:
    start = await _end_offsets(kafka)
    request = _request()
    await asyncio.to_thread(jobs.create, request)  # committed; the process "died" before publishing
    relay = OutboxRelay(OutboxStore(engine), producer, FAST)
    running = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.store.pending() == 0)
    finally:
        running.cancel()
    [record] = await _published(kafka, start, request.job_id)
    assert record.key == request.job_id.encode()
    assert JobRequested.model_validate_json(record.value) == request
    headers = dict(record.headers)
    assert headers["event-type"] == b"JobRequested"
    assert headers["correlation-id"] == request.correlation_id.encode()
    [row] = _records(engine, request.job_id)
    assert row.sent_at is not None
    assert row.attempts == 0


async def test_a_publish_that_fails_leaves_the_record_pending_and_the_job_queued_until_kafka_is_back(
    jobs: JobStore, engine: Engine, producer: EventProducer, kafka: KafkaSettings, stack: LocalStack
) -> None:
    start = await _end_offsets(kafka)
    request = _request()
    await asyncio.to_thread(jobs.create, request)
    relay = OutboxRelay(OutboxStore(engine), producer, FAST)
    cluster = stack.kafka
    assert cluster is not None
    await asyncio.to_thread(cluster.stop_node, 0)
    try:
        # The upload's own attempt times out (the record may yet arrive: that is the ambiguous case).
        assert not await relay.publish_job(request.job_id)
        assert await relay.publish_pending() == 0
    finally:
        await asyncio.to_thread(cluster.start_node, 0)
    [row] = _records(engine, request.job_id)
    assert row.sent_at is None
    assert row.attempts >= 1
    assert row.last_error
    job = jobs.get(request.job_id)
    assert job is not None
    assert job.status == "queued"

    await asyncio.to_thread(cluster.wait_ready, 120)
    running = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.store.pending() == 0, within_s=90)
    finally:
        running.cancel()
    assert await _published(kafka, start, request.job_id)  # once, or twice: workers are idempotent
    # The worker's report counts: the job was never marked failed.
    done = JobStatusChanged(
        correlation_id=request.correlation_id, job_id=request.job_id, status=JobStatus.DONE, worker_id="w"
    )
    assert jobs.apply(done)


# --- an original whose job was never recorded ----------------------------------------------------


async def test_an_original_whose_row_cannot_be_written_is_removed_at_once(
    jobs: JobStore, engine: Engine, producer: EventProducer, store: MediaStore
) -> None:
    request = _request(user_id="no-such-user")  # the insert fails (foreign key)
    store.put_stream(store.uploads_bucket, request.source_key, io.BytesIO(b"abc"), 3, "image/jpeg")
    relay = OutboxRelay(OutboxStore(engine), producer, FAST)
    context = FrontendContext(
        instance_id="test",
        producer=producer,
        store=store,
        jobs=jobs,
        limits=MediaLimits(),
        video_limits=VideoLimits(),
        backends=Backends(metrics_url="http://127.0.0.1:1", monitoring_url="http://127.0.0.1:1"),
        outbox=relay,
    )
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        await enqueue(context, request)
    assert store.stat(store.uploads_bucket, request.source_key) is None


async def test_the_sweeper_removes_objects_of_jobs_without_a_row(
    jobs: JobStore, engine: Engine, producer: EventProducer, store: MediaStore
) -> None:
    recorded, orphan, deleted = _request(), _request(), _request()
    jobs.create(recorded)
    for request in (recorded, orphan):
        store.put_stream(store.uploads_bucket, request.source_key, io.BytesIO(b"abc"), 3, "image/jpeg")
    # Renditions a worker stored after their job was deleted (its row and original are gone).
    for name in ("small.webp", "hls/720p/seg-001.m4s"):
        key = f"{deleted.job_id}/{name}"
        store.put_stream(store.renditions_bucket, key, io.BytesIO(b"abc"), 3, "image/webp")
    store.put_stream(
        store.renditions_bucket, f"{recorded.job_id}/small.webp", io.BytesIO(b"a"), 1, "image/webp"
    )
    now = [1000.0]
    sweeper = Sweeper(
        jobs,
        store,
        OutboxRelay(OutboxStore(engine), producer, FAST),
        SweeperSettings(orphan_after_s=60.0, orphan_interval_s=30.0),
        clock=lambda: now[0],
    )
    # Seen without a row: maybe an upload between its store and its insert, so it stays for now.
    assert await sweeper.sweep() == SweepReport()
    now[0] += 61
    assert await sweeper.sweep() == SweepReport(orphans_removed=2)
    assert store.stat(store.uploads_bucket, orphan.source_key) is None
    assert store.list_keys(store.renditions_bucket, f"{deleted.job_id}/") == []
    assert store.stat(store.uploads_bucket, recorded.source_key) is not None
    assert store.stat(store.renditions_bucket, f"{recorded.job_id}/small.webp") is not None


# --- stuck jobs ----------------------------------------------------------------------------------


async def _sent(jobs: JobStore, engine: Engine, producer: EventProducer, job_id: str) -> None:
    assert await OutboxRelay(OutboxStore(engine), producer, FAST).publish_job(job_id)


async def test_the_sweeper_requeues_a_stuck_job_once_then_fails_it(
    jobs: JobStore, engine: Engine, database_url: str, producer: EventProducer, store: MediaStore
) -> None:
    request = _request()
    jobs.create(request)
    assert jobs.stuck() == []
    _age(engine, request.job_id, timedelta(hours=1))
    assert jobs.stuck() == []  # its request still waits in the outbox: Kafka's delay, not the workers'
    await _sent(jobs, engine, producer, request.job_id)
    assert [job.id for job in jobs.stuck()] == []  # sent just now
    _age(engine, request.job_id, timedelta(hours=1))

    # Two frontends sweep at once: the job is re-queued once.
    other_engine = make_engine(DatabaseSettings(url=database_url))
    try:
        sweepers = [
            Sweeper(
                store_jobs,
                store,
                OutboxRelay(OutboxStore(engine), producer, FAST),
                SweeperSettings(max_attempts=3),
            )
            for store_jobs in (jobs, JobStore(other_engine, DEADLINES))
        ]
        results = await asyncio.gather(*(sweeper.sweep_stuck() for sweeper in sweepers))
    finally:
        other_engine.dispose()
    assert sorted(results) == [(0, 0), (1, 0)]
    job = jobs.get(request.job_id)
    assert job is not None
    assert (job.status, job.attempts) == ("queued", 2)
    assert OutboxStore(engine).pending(request.job_id) == 1
    assert await sweepers[0].sweep_stuck() == (0, 0)  # re-queued just now: not stuck

    # The second request is taken, then the worker goes silent while processing.
    await _sent(jobs, engine, producer, request.job_id)
    jobs.apply(
        JobStatusChanged(
            correlation_id="c",
            job_id=request.job_id,
            status=JobStatus.PROCESSING,
            progress=0.4,
            worker_id="w",
        )
    )
    _age(engine, request.job_id, timedelta(minutes=1))
    assert await sweepers[0].sweep_stuck() == (0, 0)  # processing: 2 min without news is the deadline
    _age(engine, request.job_id, timedelta(minutes=3))
    assert await sweepers[0].sweep_stuck() == (1, 0)
    job = jobs.get(request.job_id)
    assert job is not None
    assert (job.status, job.progress, job.attempts) == ("queued", 0.0, 3)

    # Its attempts are spent. Stuck while queued, it waits on our workers, not on its file: it is
    # asked for again, never failed.
    await _sent(jobs, engine, producer, request.job_id)
    _age(engine, request.job_id, timedelta(hours=1))
    assert await sweepers[1].sweep_stuck() == (1, 0)
    # Stuck while processing once more, it fails with the reason.
    await _sent(jobs, engine, producer, request.job_id)
    jobs.apply(
        JobStatusChanged(
            correlation_id="c",
            job_id=request.job_id,
            status=JobStatus.PROCESSING,
            progress=0.1,
            worker_id="w",
        )
    )
    _age(engine, request.job_id, timedelta(minutes=3))
    assert await sweepers[1].sweep_stuck() == (0, 1)
    job = jobs.get(request.job_id)
    assert job is not None
    assert job.status == "failed"
    assert job.error is not None
    assert "stopped making progress" in job.error


def test_a_job_counts_as_stuck_only_past_its_deadline(jobs: JobStore, engine: Engine) -> None:
    request = _request()
    job = jobs.create(request)
    assert not jobs.is_stuck(job)
    assert jobs.is_stuck(job, now=utc_now() + timedelta(seconds=61))
    jobs.apply(
        JobStatusChanged(
            correlation_id="c",
            job_id=request.job_id,
            status=JobStatus.PROCESSING,
            progress=0.1,
            worker_id="w",
        )
    )
    processing = jobs.get(request.job_id)
    assert processing is not None
    assert not jobs.is_stuck(processing, now=utc_now() + timedelta(seconds=90))
    assert jobs.is_stuck(processing, now=utc_now() + timedelta(seconds=121))
    assert not JobStore(engine).is_stuck(processing, now=utc_now() + timedelta(days=9))  # no deadlines
