"""Reencoder service: the re-encoding workers of the design.

Consumes:  jobs.requested       (group "reencoder"; workers share its partitions)
Produces:  jobs.status          (processing / progress / done / failed, keyed by job id)
           dead-letters         (requests it gave up on)
           services.heartbeats
HTTP:      none; scale it by starting more processes (`docker compose up --scale reencoder=4`).
Settings:  KafkaSettings, StorageSettings, MediaLimits, ReencoderSettings (REENCODER_*).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.reencoder.job_handler import ImageJobHandler
from services.reencoder.pool import EncoderPool
from shared.events import DEAD_LETTERS, JOBS_REQUESTED, JOBS_STATUS, SERVICE_HEARTBEATS
from shared.kafka import EventConsumer, EventProducer, RetryPolicy
from shared.logs import configure_logging
from shared.service import ServiceIdentity, send_heartbeats, stop_on_signals
from shared.settings import KafkaSettings, MediaLimits, StorageSettings, default_instance_id
from shared.storage import MediaStore

CONSUMER_GROUP = "reencoder"


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
    kafka: KafkaSettings, storage: StorageSettings, limits: MediaLimits, settings: ReencoderSettings
) -> None:
    identity = ServiceIdentity(
        "reencoder",
        settings.worker_id,
        consumes=(JOBS_REQUESTED.name,),
        produces=(JOBS_STATUS.name, DEAD_LETTERS.name, SERVICE_HEARTBEATS.name),
    )
    pool = EncoderPool()
    try:
        async with EventProducer(kafka, client_id=settings.worker_id) as producer:
            handler = ImageJobHandler(
                store=MediaStore(storage),
                producer=producer,
                pool=pool,
                worker_id=settings.worker_id,
                max_pixels=limits.max_image_pixels,
                job_timeout_s=settings.job_timeout_s,
                scratch_root=settings.scratch_dir,
            )
            consumer = EventConsumer(
                JOBS_REQUESTED,
                group_id=CONSUMER_GROUP,
                handler=handler,
                on_give_up=handler.give_up,
                settings=kafka,
                producer=producer,
                client_id=settings.worker_id,
                retry=RetryPolicy(max_attempts=settings.max_attempts),
                shutdown_grace_s=settings.shutdown_grace_s,
            )
            heartbeats = asyncio.create_task(send_heartbeats(producer, identity))
            try:
                with stop_on_signals(consumer.stop):
                    await consumer.run()
            finally:
                heartbeats.cancel()
    finally:
        pool.close()


def main() -> None:
    settings = ReencoderSettings()
    configure_logging("reencoder")
    asyncio.run(serve(KafkaSettings(), StorageSettings(), MediaLimits(), settings))
