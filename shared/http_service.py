"""The frame of a small HTTP service that consumes topics: /healthz, /metrics, lifespan, uvicorn."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic_settings import BaseSettings

from shared.events import Topic
from shared.kafka import EventConsumer, EventProducer
from shared.kafka.consumer import Handler
from shared.logs import configure_logging
from shared.service import ServiceIdentity, consumers_running
from shared.settings import KafkaSettings, default_instance_id


class ServiceSettings(BaseSettings):
    """Where a service listens. Subclasses set the env prefix and the default port."""

    host: str = "127.0.0.1"
    port: int = 8000
    instance: str | None = None

    def instance_id(self, service: str) -> str:
        return self.instance or default_instance_id(service)


ConsumerSpec = tuple[Topic[Any], str, Handler[Any]]
#: Work a service runs for the app's lifetime, given the app's producer.
Background = Callable[[EventProducer], contextlib.AbstractAsyncContextManager[None]]


def consumer_app(
    identity: ServiceIdentity,
    consumers: Sequence[ConsumerSpec],
    registry: CollectorRegistry,
    kafka: KafkaSettings | None = None,
    background: Background | None = None,
) -> FastAPI:
    """A FastAPI app that runs `consumers` (topic, group, handler) for its whole life.

    `background`, if given, is entered with the app's producer beside the consumers: for work that
    is not a one-record-at-a-time consumer (the metrics service's batch readers and publishers).
    """
    kafka = kafka or KafkaSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with EventProducer(kafka, client_id=identity.instance_id) as producer:
            running = [
                EventConsumer(
                    topic,
                    group_id=group,
                    handler=handler,
                    settings=kafka,
                    producer=producer,
                    client_id=identity.instance_id,
                )
                for topic, group, handler in consumers
            ]
            async with consumers_running(producer, identity, running):
                if background is None:
                    yield
                else:
                    async with background(producer):
                        yield

    app = FastAPI(title=f"reencode {identity.service}", lifespan=lifespan)

    @app.get("/healthz", tags=["health"], summary="The process is up and serving")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": identity.service, "instance": identity.instance_id}

    @app.get("/metrics", tags=["health"], summary="Prometheus exposition")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def serve_app(service: str, app: FastAPI, settings: ServiceSettings) -> None:
    """Run `app` with uvicorn until SIGINT/SIGTERM, then shut down gracefully."""
    configure_logging(service)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=30)
