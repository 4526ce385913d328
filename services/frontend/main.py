"""Frontend service: the website and its public JSON API (the design's web servers).

Consumes:  jobs.status          (group "frontend.job-status": records workers' reports in the database)
Produces:  jobs.requested       (one per accepted upload, keyed by job id)
           dead-letters, services.heartbeats
HTTP:      GET  /                         upload page (static/)
           POST /api/uploads              -> 202 {"job_id"}
           GET  /api/jobs, /api/jobs/{id}, /api/jobs/{id}/events (SSE)
           GET  /media/{job_id}/{name}    rendition download
           GET  /healthz, /docs (OpenAPI)
Settings:  KafkaSettings, StorageSettings, DatabaseSettings, MediaLimits, FrontendSettings (FRONTEND_*).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.frontend import middleware
from services.frontend.api import health, jobs, media, uploads
from services.frontend.context import FrontendContext
from services.frontend.job_store import JobStore
from services.frontend.status_recorder import CONSUMER_GROUP, StatusRecorder
from shared.database import create_schema, make_engine
from shared.events import DEAD_LETTERS, JOBS_REQUESTED, JOBS_STATUS, SERVICE_HEARTBEATS
from shared.kafka import EventConsumer, EventProducer
from shared.logs import configure_logging
from shared.service import ServiceIdentity, consumers_running
from shared.settings import (
    DatabaseSettings,
    KafkaSettings,
    MediaLimits,
    StorageSettings,
    default_instance_id,
)
from shared.storage import MediaStore

STATIC_DIR = Path(__file__).parent / "static"


class FrontendSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTEND_")

    host: str = "127.0.0.1"
    port: int = 8000
    instance_id: str = Field(default_factory=lambda: default_instance_id("frontend"))


def create_app(
    settings: FrontendSettings | None = None,
    kafka: KafkaSettings | None = None,
    storage: StorageSettings | None = None,
    database: DatabaseSettings | None = None,
    limits: MediaLimits | None = None,
) -> FastAPI:
    settings = settings or FrontendSettings()
    kafka = kafka or KafkaSettings()
    limits = limits or MediaLimits()
    identity = ServiceIdentity(
        "frontend",
        settings.instance_id,
        consumes=(JOBS_STATUS.name,),
        produces=(JOBS_REQUESTED.name, DEAD_LETTERS.name, SERVICE_HEARTBEATS.name),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(database or DatabaseSettings())
        await asyncio.to_thread(create_schema, engine)
        store = MediaStore(storage or StorageSettings())
        await asyncio.to_thread(store.ensure_buckets)
        job_store = JobStore(engine)
        async with EventProducer(kafka, client_id=settings.instance_id) as producer:
            app.state.context = FrontendContext(settings.instance_id, producer, store, job_store, limits)
            recorder = EventConsumer(
                JOBS_STATUS,
                group_id=CONSUMER_GROUP,
                handler=StatusRecorder(job_store),
                settings=kafka,
                producer=producer,
                client_id=settings.instance_id,
            )
            async with consumers_running(producer, identity, [recorder]):
                yield
        engine.dispose()

    app = FastAPI(
        title="reencode",
        summary="Upload images; Kafka workers re-encode them into web renditions.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.middleware("http")(middleware.body_size_limit(limits.max_upload_bytes))
    app.middleware("http")(middleware.correlation_id)
    for router in (uploads.router, jobs.router, media.router, health.router):
        app.include_router(router)
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="site")
    return app


def main() -> None:
    settings = FrontendSettings()
    configure_logging("frontend")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=30,
    )
