"""Frontend service: the website and its public JSON API (the design's web servers).

Consumes:  (see FRONTEND below) workers' reports, recorded in the database; video tasks' progress
Produces:  one job request per accepted upload; deletions; users' activity (never blocks a request);
           request and click metrics (fire and forget, from a bounded buffer: middleware/telemetry.py)
HTTP:      GET  /                         upload page and list (static/), for signed-in users
           GET  /uploads/{job_id}         one upload: player or image, live status, renditions
           GET/POST /register, /login; GET /profile; POST /logout   (HTML forms, CSRF-protected)
           POST /api/auth/register, /api/auth/token (OAuth2 password flow), /api/auth/logout;
           GET  /api/auth/me
           POST /api/uploads              -> 202 {"job_id"}  (one request, for simple clients)
           POST /api/uploads/multipart[/{id}/parts/sign, /{id}/complete], GET .../{id}/parts,
           DELETE /api/uploads/multipart/{id}   direct, resumable uploads: clients PUT parts to storage
           GET  /api/jobs, /api/jobs/{id}, /api/jobs/{id}/events (SSE); DELETE /api/jobs/{id}
                                          (all of /api/uploads, /api/jobs, /media: the caller's own only)
           GET  /media/{job_id}/{name}    rendition download: 307 to a presigned storage URL
           GET  /media/{job_id}/hls/{variant}/{file}  a video's HLS playlists (segments presigned)
           POST/GET /api/jobs/{id}/shares; GET /api/shares; DELETE /api/shares/{link}  share links
           GET  /s/{token}, /s/{token}/media/...  a shared upload, for anyone with the link
           GET  /img/{signature}/{options}/{job_id}  an image at any size (signed URL, cached);
           GET  /api/jobs/{id}/image-url  such a URL for the owner
           GET  /dashboard                live metrics dashboard; /api/metrics/{summary,stream,alerts}
           GET  /monitoring               the operator's live view; /api/monitoring/* (monitoring's API)
           POST /api/clicks               -> 202, a tracked link click
           POST /api/playback             -> 202, a viewer's playback beacon (anonymous too, throttled)
           GET  /healthz, /metrics (Prometheus), /docs (OpenAPI)
Settings:  FrontendConfig: Kafka, storage, database, media and video limits, accounts, FRONTEND_*,
           OUTBOX_* (the relay of committed job requests), SWEEPER_* (stuck jobs, orphan originals).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from pydantic import Field

from services.frontend import middleware
from services.frontend.accounts import api as accounts_api
from services.frontend.accounts import pages as accounts_pages
from services.frontend.accounts.account_store import AccountStore
from services.frontend.accounts.service import Accounts, AccountSettings
from services.frontend.api import (
    clicks,
    dashboard,
    jobs,
    media,
    metrics,
    monitoring,
    multipart,
    playback,
    shares,
    upload_page,
    uploads,
)
from services.frontend.api.images import ImageUrlSettings, ImageVariants
from services.frontend.api.images import router as images_router
from services.frontend.api.metrics import MetricsAddress
from services.frontend.api.monitoring import MonitoringAddress
from services.frontend.api.webhooks import Webhooks
from services.frontend.api.webhooks import router as webhooks_router
from services.frontend.consumers.job_status import StatusRecorder
from services.frontend.consumers.stored_originals import StoredOriginals
from services.frontend.consumers.video_progress import ProgressRecorder
from services.frontend.context import Backends, FrontendContext
from services.frontend.delivery import Delivery, DeliverySettings
from services.frontend.direct_uploads import DirectUploads, DirectUploadSettings
from services.frontend.job_store import JobStore
from services.frontend.middleware import activity
from services.frontend.middleware.telemetry import MetricEventSettings, TelemetryMiddleware
from services.frontend.outbox import OutboxRelay, OutboxSettings, OutboxStore
from services.frontend.share_store import ShareSettings, ShareStore
from services.frontend.sweeper import Sweeper, SweeperSettings
from shared.database import create_schema, make_engine
from shared.events import (
    JOBS_REQUESTED,
    JOBS_STATUS,
    MEDIA_DELETED,
    METRICS_CLICKS,
    METRICS_REQUESTS,
    PLAYBACK_EVENTS,
    STORAGE_EVENTS,
    USER_ACTIVITY,
    VIDEO_PROGRESS,
    WEBHOOK_DELIVERIES,
)
from shared.frame import (
    Consumes,
    HttpSettings,
    Runtime,
    ServiceConfig,
    ServiceDeclaration,
    Wiring,
    run_service,
)
from shared.presign import DownloadSigner
from shared.settings import DatabaseSettings, MediaLimits, StorageSettings, VideoLimits
from shared.storage import MediaStore
from shared.webhooks.settings import WebhookSettings
from shared.webhooks.store import WebhookStore

STATIC_DIR = Path(__file__).parent / "static"

JOB_STATUS = Consumes(JOBS_STATUS, group="frontend.job-status")
JOB_PROGRESS = Consumes(VIDEO_PROGRESS, group="frontend.job-progress")
#: MinIO's notification of a stored original starts a direct upload's job.
STORED_ORIGINALS = Consumes(STORAGE_EVENTS, group="frontend.stored-originals")

FRONTEND = ServiceDeclaration(
    name="frontend",
    summary="Upload images and videos; Kafka workers re-encode them into web renditions.",
    consumes=(JOB_STATUS, JOB_PROGRESS, STORED_ORIGINALS),
    produces=(
        JOBS_REQUESTED,
        MEDIA_DELETED,
        WEBHOOK_DELIVERIES,
        USER_ACTIVITY,
        METRICS_REQUESTS,
        METRICS_CLICKS,
        PLAYBACK_EVENTS,
    ),
    http=True,
)


class FrontendSettings(HttpSettings, env_prefix="FRONTEND_"):
    port: int = 8000


class FrontendConfig(ServiceConfig):
    frontend: FrontendSettings = Field(default_factory=FrontendSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    limits: MediaLimits = Field(default_factory=MediaLimits)
    video: VideoLimits = Field(default_factory=VideoLimits)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    metric_events: MetricEventSettings = Field(default_factory=MetricEventSettings)
    metrics_backend: MetricsAddress = Field(default_factory=MetricsAddress)
    monitoring_backend: MonitoringAddress = Field(default_factory=MonitoringAddress)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    sweeper: SweeperSettings = Field(default_factory=SweeperSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    shares: ShareSettings = Field(default_factory=ShareSettings)
    direct_uploads: DirectUploadSettings = Field(default_factory=DirectUploadSettings)
    image_urls: ImageUrlSettings = Field(default_factory=ImageUrlSettings)

    def http(self) -> FrontendSettings:
        return self.frontend


@contextlib.asynccontextmanager
async def setup(config: FrontendConfig, runtime: Runtime) -> AsyncIterator[Wiring]:
    engine = make_engine(config.database)
    try:
        await asyncio.to_thread(create_schema, engine)
        store = MediaStore(config.storage)
        await asyncio.to_thread(store.ensure_buckets)
        job_store = JobStore(engine, config.sweeper.deadlines(config.video))
        assert runtime.app is not None
        registry = add_routes(runtime.app, config, runtime.identity.instance_id)
        outbox = OutboxRelay(OutboxStore(engine), runtime.producer, config.outbox, registry)
        accounts = Accounts(AccountStore(engine), config.accounts)
        direct_uploads = DirectUploads(
            store,
            job_store,
            config.limits,
            config.video,
            config.direct_uploads,
            lambda user_id: accounts.store.stats(user_id).bytes,
            config.accounts.stored_bytes_per_user,
        )
        sweeper = Sweeper(job_store, store, outbox, config.sweeper, registry, direct_uploads=direct_uploads)
        runtime.app.state.accounts = accounts
        runtime.app.state.direct_uploads = direct_uploads
        runtime.app.state.delivery = Delivery(store, DownloadSigner(config.storage), config.delivery)
        runtime.app.state.shares = ShareStore(engine, config.shares)
        runtime.app.state.image_variants = ImageVariants(
            store, job_store, config.image_urls, config.limits.max_image_pixels, registry
        )
        runtime.app.state.webhooks = Webhooks(WebhookStore(engine), config.webhooks)
        runtime.app.state.context = FrontendContext(
            runtime.identity.instance_id,
            runtime.producer,
            store,
            job_store,
            config.limits,
            config.video,
            Backends(config.metrics_backend.base_url, config.monitoring_backend.base_url),
            outbox,
        )
        yield Wiring(
            bindings=[
                JOB_STATUS.handled_by(StatusRecorder(job_store)),
                JOB_PROGRESS.handled_by(ProgressRecorder(job_store)),
                STORED_ORIGINALS.handled_by(StoredOriginals(direct_uploads, outbox)),
            ],
            tasks={"the outbox relay": outbox.run, "the job sweeper": sweeper.run},
            registry=registry,
        )
    finally:
        engine.dispose()


def add_routes(app: FastAPI, config: FrontendConfig, instance_id: str) -> CollectorRegistry:
    """The site's middleware and routes; returns the registry of what GET /metrics exposes."""
    # Videos may be far larger than images; each kind's own limit is checked once the file is identified.
    largest_upload = max(config.limits.max_upload_bytes, config.video.max_upload_bytes)
    # Innermost: every body, chunked or not, is cut at its route's limit as it is read.
    app.add_middleware(
        middleware.BodySizeLimit,
        limit_for=middleware.upload_body_limit(largest_upload),
        idle_timeout_s=config.frontend.body_idle_timeout_s,
    )
    app.middleware("http")(middleware.correlation_id)
    middleware.answer_outages_with_503(app)
    app.middleware("http")(activity.record_activity)
    # Outermost: measures every request (metric events for the metrics service, /metrics).
    registry = CollectorRegistry()
    app.add_middleware(
        TelemetryMiddleware,
        kafka=config.kafka,
        instance_id=instance_id,
        settings=config.metric_events,
        registry=registry,
    )
    for router in (accounts_api.router, accounts_pages.router):
        app.include_router(router)
    app.include_router(shares.router)
    for router in (uploads.router, multipart.router, jobs.router, media.router, monitoring.router):
        app.include_router(router)
    for router in (metrics.router, clicks.router, dashboard.router, upload_page.router):
        app.include_router(router)
    app.include_router(playback.router)
    app.include_router(webhooks_router)
    app.include_router(images_router)
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="site")
    return registry


def main() -> None:
    config = FrontendConfig()
    run_service(FRONTEND, config, partial(setup, config))
