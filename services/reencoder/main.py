"""Reencoder service: the re-encoding workers of the design.

Its declaration (`REENCODER` below) says what it consumes and produces: images are encoded and videos
planned into tasks from `jobs.requested`; `video.tasks` are encoded one rendition (or the previews)
each; `video.tasks.finished` finishes or fails video jobs. Three consumer loops in one process, so a
long video task never holds up image jobs or job completion.
HTTP:      none; scale it by starting more processes (`docker compose up --scale reencoder=4`).
Settings:  ReencoderConfig: Kafka, storage, media and video limits, REENCODER_*.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.reencoder.job_handler import ImageJobHandler
from services.reencoder.job_outcome import JobAnnouncer
from services.reencoder.job_router import JobRouter
from services.reencoder.pool import EncoderPool
from services.reencoder.scratch import sweep_stale_scratch
from services.reencoder.timing import TimingReporter
from services.reencoder.video.chunks import ChunkSettings
from services.reencoder.video.completion import VideoJobCompletion
from services.reencoder.video.planner import VideoJobPlanner
from services.reencoder.video.task_handler import VideoTaskHandler
from shared.events import (
    JOBS_REQUESTED,
    JOBS_STATUS,
    METRICS_WORK,
    VIDEO_PROGRESS,
    VIDEO_TASKS,
    VIDEO_TASKS_FINISHED,
)
from shared.frame import Consumes, Runtime, ServiceConfig, ServiceDeclaration, Wiring, run_service
from shared.kafka import RetryPolicy
from shared.settings import MediaLimits, StorageSettings, VideoLimits
from shared.storage import MediaStore

JOBS = Consumes(JOBS_REQUESTED, group="reencoder")
TASKS = Consumes(VIDEO_TASKS, group="reencoder.video-tasks")
COMPLETION = Consumes(VIDEO_TASKS_FINISHED, group="reencoder.video-completion")

REENCODER = ServiceDeclaration(
    name="reencoder",
    summary="Re-encodes uploads: images into a ladder of sizes, videos into an HLS ladder by tasks.",
    consumes=(JOBS, TASKS, COMPLETION),
    produces=(JOBS_STATUS, VIDEO_TASKS, VIDEO_TASKS_FINISHED, VIDEO_PROGRESS, METRICS_WORK),
)


class ReencoderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REENCODER_")

    #: A job still encoding after this long fails with a readable reason.
    job_timeout_s: float = 300.0
    max_attempts: int = 3
    #: How long a stopping worker may finish the job in hand before handing it back.
    shutdown_grace_s: float = 30.0
    scratch_dir: Path | None = None
    #: The image encoder child's memory limit (address space): a file that needs more fails as out of
    #: memory. MEDIA_MAX_IMAGE_PIXELS is sized from it (see `image_encoder.WORST_BYTES_PER_PIXEL`).
    encoder_memory_bytes: int = 1536 * 1024**2


class ReencoderConfig(ServiceConfig):
    storage: StorageSettings = Field(default_factory=StorageSettings)
    limits: MediaLimits = Field(default_factory=MediaLimits)
    video: VideoLimits = Field(default_factory=VideoLimits)
    chunks: ChunkSettings = Field(default_factory=ChunkSettings)
    reencoder: ReencoderSettings = Field(default_factory=ReencoderSettings)


@contextlib.asynccontextmanager
async def setup(config: ReencoderConfig, runtime: Runtime) -> AsyncIterator[Wiring]:
    """The reencoder's handlers, over one encoder pool and one storage client."""
    settings, video = config.reencoder, config.video
    worker_id = runtime.identity.instance_id
    # Left by a worker killed outright: older than any work may run (twice the timeout, for margin).
    longest_s = max(video.task_timeout_s, settings.job_timeout_s)
    await asyncio.to_thread(sweep_stale_scratch, settings.scratch_dir, 2 * longest_s)
    pool = EncoderPool(memory_limit_bytes=settings.encoder_memory_bytes)
    try:
        store = MediaStore(config.storage)
        announcer = JobAnnouncer(store, runtime.producer, worker_id)
        timings = TimingReporter(runtime.producer, worker_id)
        jobs = JobRouter(
            image=ImageJobHandler(
                announcer=announcer,
                pool=pool,
                max_pixels=config.limits.max_image_pixels,
                job_timeout_s=settings.job_timeout_s,
                timings=timings,
                scratch_root=settings.scratch_dir,
            ),
            video=VideoJobPlanner(
                announcer,
                video,
                settings.scratch_dir,
                ffprobe=video.ffprobe_binary,
                chunk_s=config.chunks.chunk_s,
                first_chunk_segments=config.chunks.first_chunk_segments,
                av1=config.chunks.av1,
                read_by_url_from_bytes=config.chunks.read_by_url_from_bytes,
            ),
        )
        tasks = VideoTaskHandler(
            store,
            runtime.producer,
            worker_id,
            video,
            timings,
            settings.scratch_dir,
            ffmpeg=video.ffmpeg_binary,
            ffprobe=video.ffprobe_binary,
            read_by_url_from_bytes=config.chunks.read_by_url_from_bytes,
        )
        completion = VideoJobCompletion(announcer)
        yield Wiring(
            bindings=[
                JOBS.handled_by(jobs, on_give_up=jobs.give_up),
                TASKS.handled_by(tasks, on_give_up=tasks.give_up),
                COMPLETION.handled_by(completion, on_give_up=completion.give_up),
            ],
            retry=RetryPolicy(max_attempts=settings.max_attempts),
            shutdown_grace_s=settings.shutdown_grace_s,
            registry=timings.metrics.registry,  # on /metrics when TELEMETRY_METRICS_PORT is set
        )
    finally:
        pool.close()


def main() -> None:
    config = ReencoderConfig()
    run_service(REENCODER, config, partial(setup, config))
