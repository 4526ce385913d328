"""Frontend service: the website and its public JSON API (the design's web servers).

Consumes:  jobs.status          (group "frontend.job-status": records workers' reports in the database)
           video.progress       (group "frontend.job-progress": video tasks' progress -> job progress)
Produces:  jobs.requested       (one per accepted upload, keyed by job id)
           media.deleted        (an owner deleted an upload)
           users.activity       (registrations, logins, uploads, views, deletions; never blocks a request)
           dead-letters, services.heartbeats
           metrics.requests, metrics.clicks  (fire and forget, from a bounded buffer: telemetry_middleware)
HTTP:      GET  /                         upload page (static/), for signed-in users
           GET/POST /register, /login; GET /profile; POST /logout   (HTML forms, CSRF-protected)
           POST /api/auth/register, /api/auth/token (OAuth2 password flow), /api/auth/logout;
           GET  /api/auth/me
           POST /api/uploads              -> 202 {"job_id"}
           GET  /api/jobs, /api/jobs/{id}, /api/jobs/{id}/events (SSE); DELETE /api/jobs/{id}
                                          (all of /api/uploads, /api/jobs, /media: the caller's own only)
           GET  /media/{job_id}/{name}    rendition download
           GET  /media/{job_id}/hls/{variant}/{file}  a video's HLS playlists and segments
           GET  /dashboard                live metrics dashboard; /api/metrics/{summary,stream,alerts}
           GET  /monitoring               the operator's live view; /api/monitoring/* (monitoring's API)
           POST /api/clicks               -> 202, a tracked link click
           GET  /healthz, /metrics (Prometheus), /docs (OpenAPI)
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
from sqlalchemy.exc import OperationalError

from services.frontend import middleware
from services.frontend.accounts import api as accounts_api
from services.frontend.accounts import pages as accounts_pages
from services.frontend.accounts.account_store import AccountStore
from services.frontend.accounts.service import Accounts, AccountSettings
from services.frontend.api import (
    clicks,
    dashboard,
    exposition,
    health,
    jobs,
    media,
    metrics,
    monitoring,
    uploads,
)
from services.frontend.consumers.job_status import CONSUMER_GROUP, StatusRecorder
from services.frontend.consumers.video_progress import CONSUMER_GROUP as PROGRESS_GROUP
from services.frontend.consumers.video_progress import ProgressRecorder
from services.frontend.context import FrontendContext
from services.frontend.job_store import JobStore
from services.frontend.middleware import activity
from services.frontend.middleware.telemetry import TelemetryMiddleware
from shared.database import create_schema, make_engine
from shared.events import DEAD_LETTERS, JOBS_REQUESTED, JOBS_STATUS, SERVICE_HEARTBEATS, VIDEO_PROGRESS
from shared.kafka import EventConsumer, EventProducer
from shared.logs import configure_logging
from shared.service import ServiceIdentity, consumers_running
from shared.settings import (
    DatabaseSettings,
    KafkaSettings,
    MediaLimits,
    StorageSettings,
    VideoLimits,
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
        consumes=(JOBS_STATUS.name, VIDEO_PROGRESS.name),
        produces=(JOBS_REQUESTED.name, DEAD_LETTERS.name, SERVICE_HEARTBEATS.name),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(database or DatabaseSettings())
        await asyncio.to_thread(create_schema, engine)
        store = MediaStore(storage or StorageSettings())
        await asyncio.to_thread(store.ensure_buckets)
        job_store = JobStore(engine)
        app.state.accounts = Accounts(AccountStore(engine), AccountSettings())
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
            progress = EventConsumer(
                VIDEO_PROGRESS,
                group_id=PROGRESS_GROUP,
                handler=ProgressRecorder(job_store),
                settings=kafka,
                producer=producer,
                client_id=settings.instance_id,
            )
            async with consumers_running(producer, identity, [recorder, progress]):
                yield
        engine.dispose()

    app = FastAPI(
        title="reencode",
        summary="Upload images; Kafka workers re-encode them into web renditions.",
        version="0.1.0",
        lifespan=lifespan,
    )
    # Videos may be far larger than images; each kind's own limit is checked once the file is identified.
    largest_upload = max(limits.max_upload_bytes, VideoLimits().max_upload_bytes)
    app.middleware("http")(middleware.body_size_limit(largest_upload))
    app.middleware("http")(middleware.correlation_id)
    app.add_exception_handler(OperationalError, middleware.database_unavailable)
    app.middleware("http")(activity.record_activity)
    # Outermost: measures every request (metric events for the metrics service, /metrics).
    app.add_middleware(TelemetryMiddleware, kafka=kafka, instance_id=settings.instance_id)
    for router in (accounts_api.router, accounts_pages.router):
        app.include_router(router)
    for router in (uploads.router, jobs.router, media.router, health.router, monitoring.router):
        app.include_router(router)
    for router in (metrics.router, clicks.router, dashboard.router, exposition.router):
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
