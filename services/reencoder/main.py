"""Reencoder service: the re-encoding workers of the design.

Consumes:  jobs.requested       (group "reencoder"; images are encoded, videos planned into tasks)
           video.tasks          (group "reencoder.video-tasks": one rendition or the previews each)
           video.tasks.finished (group "reencoder.video-completion": finishes or fails video jobs)
Produces:  jobs.status          (processing / progress / done / failed, keyed by job id)
           video.tasks          (a video job's fan-out, spread over partitions)
           video.tasks.finished (a task's outcome, keyed by job id)
           video.progress       (a running task's progress, about once a second, keyed by job id)
           metrics.work         (phase timings and bytes of each image job and video task, by job id)
           dead-letters         (requests it gave up on)
           services.heartbeats
HTTP:      none; scale it by starting more processes (`docker compose up --scale reencoder=4`).
Settings:  KafkaSettings, StorageSettings, MediaLimits, VideoLimits (VIDEO_*), ReencoderSettings
           (REENCODER_*).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.reencoder.job_handler import ImageJobHandler
from services.reencoder.job_outcome import JobAnnouncer
from services.reencoder.job_router import JobRouter
from services.reencoder.pool import EncoderPool
from services.reencoder.scratch import sweep_stale_scratch
from services.reencoder.timing import TimingReporter
from services.reencoder.video.completion import VideoJobCompletion
from services.reencoder.video.planner import VideoJobPlanner
from services.reencoder.video.task_handler import VideoTaskHandler
from shared.events import (
    DEAD_LETTERS,
    JOBS_REQUESTED,
    JOBS_STATUS,
    METRICS_WORK,
    SERVICE_HEARTBEATS,
    VIDEO_PROGRESS,
    VIDEO_TASKS,
    VIDEO_TASKS_FINISHED,
    E,
    Topic,
)
from shared.kafka import EventConsumer, EventProducer, RetryPolicy
from shared.kafka.consumer import GiveUpHook, Handler
from shared.logs import configure_logging
from shared.service import ServiceIdentity, heartbeating, stop_on_signals
from shared.settings import KafkaSettings, MediaLimits, StorageSettings, VideoLimits, default_instance_id
from shared.storage import MediaStore

CONSUMER_GROUP = "reencoder"
VIDEO_TASKS_GROUP = "reencoder.video-tasks"
VIDEO_COMPLETION_GROUP = "reencoder.video-completion"


class ReencoderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REENCODER_")

    worker_id: str = Field(default_factory=lambda: default_instance_id("reencoder"))
    #: A job still encoding after this long fails with a readable reason.
    job_timeout_s: float = 300.0
    max_attempts: int = 3
    #: How long a stopping worker may finish the job in hand before handing it back.
    shutdown_grace_s: float = 30.0
    scratch_dir: Path | None = None


async def serve(
    kafka: KafkaSettings,
    storage: StorageSettings,
    limits: MediaLimits,
    settings: ReencoderSettings,
    video_limits: VideoLimits | None = None,
) -> None:
    video_limits = video_limits or VideoLimits()
    identity = ServiceIdentity(
        "reencoder",
        settings.worker_id,
        consumes=(JOBS_REQUESTED.name, VIDEO_TASKS.name, VIDEO_TASKS_FINISHED.name),
        produces=(
            JOBS_STATUS.name,
            VIDEO_TASKS.name,
            VIDEO_TASKS_FINISHED.name,
            VIDEO_PROGRESS.name,
            METRICS_WORK.name,
            DEAD_LETTERS.name,
            SERVICE_HEARTBEATS.name,
        ),
    )
    # Left by a worker killed outright: older than any work may run (twice the timeout, for margin).
    longest_s = max(video_limits.task_timeout_s, settings.job_timeout_s)
    await asyncio.to_thread(sweep_stale_scratch, settings.scratch_dir, 2 * longest_s)
    pool = EncoderPool()
    try:
        async with EventProducer(kafka, client_id=settings.worker_id) as producer:
            store = MediaStore(storage)
            announcer = JobAnnouncer(store, producer, settings.worker_id)
            timings = TimingReporter(producer, settings.worker_id)
            jobs = JobRouter(
                image=ImageJobHandler(
                    announcer=announcer,
                    pool=pool,
                    max_pixels=limits.max_image_pixels,
                    job_timeout_s=settings.job_timeout_s,
                    timings=timings,
                    scratch_root=settings.scratch_dir,
                ),
                video=VideoJobPlanner(
                    announcer, video_limits, settings.scratch_dir, ffprobe=video_limits.ffprobe_binary
                ),
            )
            tasks = VideoTaskHandler(
                store,
                producer,
                settings.worker_id,
                video_limits,
                timings,
                settings.scratch_dir,
                ffmpeg=video_limits.ffmpeg_binary,
                ffprobe=video_limits.ffprobe_binary,
            )
            completion = VideoJobCompletion(announcer)

            def consumer(
                topic: Topic[E], group: str, handler: Handler[E], give_up: GiveUpHook[E] | None
            ) -> EventConsumer[E]:
                return EventConsumer(
                    topic,
                    group_id=group,
                    handler=handler,
                    on_give_up=give_up,
                    settings=kafka,
                    producer=producer,
                    client_id=settings.worker_id,
                    retry=RetryPolicy(max_attempts=settings.max_attempts),
                    shutdown_grace_s=settings.shutdown_grace_s,
                )

            # Three loops in one process: a long video task never holds up image jobs or job completion.
            consumers: list[EventConsumer[Any]] = [
                consumer(JOBS_REQUESTED, CONSUMER_GROUP, jobs, jobs.give_up),
                consumer(VIDEO_TASKS, VIDEO_TASKS_GROUP, tasks, tasks.give_up),
                consumer(VIDEO_TASKS_FINISHED, VIDEO_COMPLETION_GROUP, completion, completion.give_up),
            ]

            def stop_all() -> None:
                for each in consumers:
                    each.stop()

            async with heartbeating(producer, identity):
                with stop_on_signals(stop_all):
                    await asyncio.gather(*(each.run() for each in consumers))
    finally:
        pool.close()


def main() -> None:
    settings = ReencoderSettings()
    configure_logging("reencoder")
    asyncio.run(serve(KafkaSettings(), StorageSettings(), MediaLimits(), settings, VideoLimits()))
