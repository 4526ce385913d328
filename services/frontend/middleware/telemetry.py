"""Measures every request and reports it as a `RequestObserved` event, without slowing it down.

A pure ASGI middleware (no `BaseHTTPMiddleware`: that buffers streaming bodies): it notes the status
and counts body bytes as they pass, and when the response is complete hands one event to the
`TelemetryEmitter`'s in-memory queue. Nothing here waits for Kafka or can raise into the request.

It also owns the emitter's life: it starts it on the app's lifespan start-up and flushes it on
shutdown, so registering it is one line in `main.py`. Routes reach the emitter as
`request.state.telemetry` (the clicks route does), and Prometheus reads its registry.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.events import METRICS_REQUESTS, RequestObserved, new_id
from shared.kafka.telemetry import TelemetryEmitter
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

#: Label for paths no route matched (scanners, typos): one series instead of one per path.
UNMATCHED = "(unmatched)"
#: Label for files served by the static mount.
STATIC = "(static)"


def route_template(scope: Scope) -> str:
    """The matched route's template (`/api/jobs/{job_id}`), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("endpoint") is not None:
        return STATIC
    return UNMATCHED


class MetricEventSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTEND_")

    #: Off only to measure what emission costs (bench/metrics.py); /metrics keeps working either way.
    metric_events: bool = True


class TelemetryMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        kafka: KafkaSettings,
        instance_id: str,
        settings: MetricEventSettings,
        registry: CollectorRegistry,
        service: str = "frontend",
    ) -> None:
        self.app = app
        self.enabled = settings.metric_events
        self.service = service
        self.instance_id = instance_id
        #: What this instance's GET /metrics exposes (shared with the service frame).
        self.registry = registry
        self.emitter = TelemetryEmitter(kafka, client_id=instance_id, registry=self.registry)
        # Prometheus' own view of the same requests, for scrapes of this instance alone.
        self._latency = Histogram(
            "reencode_http_request_duration_seconds",
            "Time to answer a request",
            ["method", "route", "status"],
            registry=self.registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["telemetry"] = self
        started = time.perf_counter()
        status = 500
        body_bytes = 0
        streaming = False
        headers_at = started
        correlation_id = ""

        async def measuring_send(message: Message) -> None:
            nonlocal status, body_bytes, streaming, headers_at, correlation_id
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers_at = time.perf_counter()
                headers = {name.lower(): value for name, value in message.get("headers", [])}
                streaming = headers.get(b"content-type", b"").startswith(b"text/event-stream")
                correlation_id = headers.get(b"x-correlation-id", b"").decode("latin-1")
            elif message["type"] == "http.response.body":
                body_bytes += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, measuring_send)
        finally:
            # A live stream's latency is its time to first byte; its length is how long someone watched.
            ended = headers_at if streaming else time.perf_counter()
            self._observe(scope, status, (ended - started) * 1000, body_bytes, correlation_id)

    def _observe(
        self, scope: Scope, status: int, latency_ms: float, body_bytes: int, correlation_id: str
    ) -> None:
        try:
            route = route_template(scope)
            method = str(scope.get("method", "GET"))
            state: dict[str, Any] = scope.get("state", {})
            self._latency.labels(method, route, str(status)).observe(latency_ms / 1000)
            if not self.enabled:
                return
            self.emitter.emit(
                METRICS_REQUESTS,
                RequestObserved(
                    correlation_id=correlation_id or new_id(),
                    service=self.service,
                    instance_id=self.instance_id,
                    method=method,
                    route=route,
                    status=status,
                    latency_ms=latency_ms,
                    bytes_out=body_bytes,
                    user_id=state.get("user_id"),
                ),
            )
        except Exception:
            # Telemetry must never fail a request; a bug here shows in the log instead.
            log.exception("request not measured")

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.emitter.start()
            elif message["type"] == "lifespan.shutdown":
                await self.emitter.stop()
            return message

        return wrapped


def telemetry_of(state: Any) -> TelemetryMiddleware:
    """The running middleware, from `request.state` (set on every request)."""
    middleware: TelemetryMiddleware = state.telemetry
    return middleware
