"""The reencoder keeps its promise under faults: on the session's real Kafka and MinIO, the handlers
driven in process as the consumer loop drives them, faults placed exactly where they hurt."""

from __future__ import annotations

import asyncio
import io
import stat
from pathlib import Path

import pytest

from infra.local.processes import free_port
from infra.local.stack import LocalStack
from services.reencoder.job_handler import ImageJobHandler
from services.reencoder.job_outcome import JobAnnouncer
from services.reencoder.pool import EncoderPool
from services.reencoder.renditions import manifest_key
from services.reencoder.timing import TimingReporter
from services.reencoder.video import keys
from services.reencoder.video.chunks import chunk_task_id
from services.reencoder.video.task_handler import VideoTaskHandler
from shared.events import (
    JOBS_STATUS,
    VIDEO_TASKS_FINISHED,
    JobRequested,
    JobStatus,
    MediaKind,
    VideoOutput,
    VideoTaskKind,
    VideoTaskRequested,
    new_id,
)
from shared.kafka import Delivery, EventProducer, InfrastructureError, is_infrastructure_failure
from shared.settings import VideoLimits
from shared.storage import MediaStore
from tests.eventually import eventually_async
from tests.stored_jobs import stored_image_job
from tests.system.conftest import read_topic
from tests.video_samples import ffmpeg_binary, video_bytes

OUTPUT = VideoOutput(name="240p", width=320, height=240, video_kbps=400, audio_kbps=64)


def delivery(attempt: int = 1) -> Delivery:
    return Delivery("video.tasks", 0, 0, None, attempt)


def video_task(store: MediaStore) -> VideoTaskRequested:
    job_id = new_id()
    source_key = f"{job_id}/original.mp4"
    store.put_stream(store.uploads_bucket, source_key, *_bytes(video_bytes(seconds=2)), "video/mp4")
    return VideoTaskRequested(
        correlation_id=new_id(),
        job_id=job_id,
        task_id=chunk_task_id(0),
        kind=VideoTaskKind.CHUNK,
        output=OUTPUT,
        outputs=(OUTPUT,),
        source_key=source_key,
        duration_s=2.0,
        frame_rate=25.0,
        has_audio=True,
        weight=1.0,
        partition_key=job_id,
        # The whole 2 s clip is the one chunk, of one 2 s segment.
        start_s=0.0,
        length_s=2.0,
        segment_s=2.0,
    )


def _bytes(data: bytes) -> tuple[io.BytesIO, int]:
    return io.BytesIO(data), len(data)


async def until_exists(path: Path, within_s: float = 60) -> None:
    await eventually_async(
        lambda: asyncio.to_thread(path.exists), timeout=within_s, interval=0.05, what=f"{path} exists"
    )


def failing_ffmpeg(tmp_path: Path) -> tuple[Path, Path, str]:
    """An ffmpeg that says it started, waits for the go-ahead, then fails like a damaged encode."""
    started, go = tmp_path / "started", tmp_path / "go"
    script = tmp_path / "ffmpeg"
    script.write_text(
        f"#!/bin/sh\ntouch {started}\nwhile [ ! -f {go} ]; do sleep 0.05; done\necho 'boom' >&2\nexit 1\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return started, go, str(script)


def test_a_failing_duplicate_attempt_leaves_the_finished_attempts_outputs(
    stack: LocalStack, tmp_path: Path
) -> None:
    """Before: the duplicate's failure removed the outputs the first attempt had published as done,
    and reported the task failed, which failed the whole job."""
    store = MediaStore(stack.config.storage)
    task = video_task(store)
    started, go, broken_ffmpeg = failing_ffmpeg(tmp_path)

    async def scenario() -> None:
        async with EventProducer(stack.config.kafka, client_id="faults-test") as producer:

            def handler(worker: str, ffmpeg: str) -> VideoTaskHandler:
                timings = TimingReporter(producer, worker)
                return VideoTaskHandler(
                    store, producer, worker, VideoLimits(), timings, tmp_path, ffmpeg=ffmpeg
                )

            # The duplicate (a second worker after a rebalance) starts first and is still encoding...
            duplicate = asyncio.create_task(handler("second", broken_ffmpeg)(task, delivery()))
            await until_exists(started)
            # ...while the first attempt finishes the task and publishes its outputs.
            await handler("first", ffmpeg_binary())(task, delivery())
            go.touch()
            await duplicate

    asyncio.run(scenario())
    bucket = store.renditions_bucket
    assert store.stat(bucket, keys.task_marker_key(task.job_id, task.task_id)) is not None
    for file in ("init.mp4", keys.segment_file(0)):
        assert store.stat(bucket, keys.hls_file_key(task.job_id, OUTPUT.name, file)) is not None, file
    finished = [event for event in read_topic(stack, VIDEO_TASKS_FINISHED) if event.job_id == task.job_id]
    assert [event.ok for event in finished] == [True, True]


def test_failing_a_job_that_is_done_removes_nothing_and_announces_it_done(stack: LocalStack) -> None:
    """Before: a late give-up (say of the planner's duplicate) wiped every output of a done job."""
    store = MediaStore(stack.config.storage)
    job_id, bucket = new_id(), store.renditions_bucket
    store.put_stream(bucket, f"{job_id}/360p.mp4", *_bytes(b"mp4"), "video/mp4")
    store.put_json(bucket, manifest_key(job_id), {"job_id": job_id, "renditions": []})

    async def scenario() -> None:
        async with EventProducer(stack.config.kafka, client_id="faults-test") as producer:
            announcer = JobAnnouncer(store, producer, "late")
            await announcer.fail(job_id, "c", "internal error, retries exhausted: boom")

    asyncio.run(scenario())
    assert store.stat(bucket, f"{job_id}/360p.mp4") is not None
    assert store.stat(bucket, keys.failed_marker_key(job_id)) is None
    statuses = [event.status for event in read_topic(stack, JOBS_STATUS) if event.job_id == job_id]
    assert statuses == [JobStatus.DONE]


def test_an_image_job_done_by_another_attempt_is_never_failed_by_this_one(stack: LocalStack) -> None:
    store = MediaStore(stack.config.storage)
    job = stored_image_job(store)
    job_id = job.job_id

    async def scenario() -> None:
        pool = EncoderPool()
        try:
            async with EventProducer(stack.config.kafka, client_id="faults-test") as producer:
                announcer = JobAnnouncer(store, producer, "w")
                handler = ImageJobHandler(announcer, pool, 50_000_000, 120, TimingReporter(producer, "w"))
                await handler(job, delivery())
                # The duplicate's retries ran out (storage refused it, say) after the first finished.
                await handler.give_up(job, "ConnectionError: storage away")
        finally:
            pool.close()

    asyncio.run(scenario())
    statuses = [event.status for event in read_topic(stack, JOBS_STATUS) if event.job_id == job_id]
    assert JobStatus.FAILED not in statuses
    assert statuses[-1] == JobStatus.DONE


def test_unreachable_storage_is_an_outage_to_wait_out_not_a_failed_job(stack: LocalStack) -> None:
    """The handler leaves with an InfrastructureError, which the consumer retries until MinIO is back,
    and reports nothing failed (before, three quick tries ended in "retries exhausted")."""
    away = stack.config.storage.model_copy(update={"endpoint": f"127.0.0.1:{free_port()}"})
    store = MediaStore(away)
    job = JobRequested(
        correlation_id=new_id(),
        job_id=new_id(),
        kind=MediaKind.IMAGE,
        source_key="nowhere/original.jpg",
        filename="photo.jpg",
        content_type="image/jpeg",
        size_bytes=1,
    )

    async def scenario() -> BaseException:
        pool = EncoderPool()
        try:
            async with EventProducer(stack.config.kafka, client_id="faults-test") as producer:
                announcer = JobAnnouncer(store, producer, "w")
                handler = ImageJobHandler(announcer, pool, 50_000_000, 120, TimingReporter(producer, "w"))
                with pytest.raises(InfrastructureError) as raised:
                    await handler(job, delivery())
                return raised.value
        finally:
            pool.close()

    error = asyncio.run(scenario())
    assert is_infrastructure_failure(error)
    statuses = [event.status for event in read_topic(stack, JOBS_STATUS) if event.job_id == job.job_id]
    assert JobStatus.FAILED not in statuses
