"""The clients a frontend process holds, opened in the app's lifespan and shared by the routes."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from services.frontend.job_store import JobStore
from services.frontend.outbox import OutboxRelay
from shared.kafka import EventProducer
from shared.settings import MediaLimits, VideoLimits
from shared.storage import MediaStore


@dataclass(frozen=True)
class Backends:
    """Where the services whose read-only APIs the frontend passes through listen."""

    metrics_url: str
    monitoring_url: str


@dataclass(frozen=True)
class FrontendContext:
    instance_id: str
    producer: EventProducer
    store: MediaStore
    jobs: JobStore
    limits: MediaLimits
    video_limits: VideoLimits
    backends: Backends
    #: Publishes the outbox's pending records (a job's request, right after its commit).
    outbox: OutboxRelay


def get_context(request: Request) -> FrontendContext:
    """FastAPI dependency: the running process's clients."""
    context: FrontendContext = request.app.state.context
    return context
