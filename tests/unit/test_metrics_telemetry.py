"""The telemetry emitter never blocks or raises into a request, even with no broker at all."""

from __future__ import annotations

import asyncio

from infra.local.processes import free_port
from shared.events import METRICS_REQUESTS, RequestObserved
from shared.kafka.telemetry import TelemetryEmitter
from shared.settings import KafkaSettings


def observed() -> RequestObserved:
    return RequestObserved(
        correlation_id="c",
        service="frontend",
        instance_id="f1",
        method="GET",
        route="/",
        status=200,
        latency_ms=1.0,
    )


async def test_with_the_broker_away_events_are_dropped_and_counted() -> None:
    # A port nobody listens on: the broker is away for the whole test.
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_ms=1000)
    emitter = TelemetryEmitter(settings, client_id="test", capacity=100)
    await emitter.start()
    for _ in range(250):
        emitter.emit(METRICS_REQUESTS, observed())  # never raises, never awaits
    await asyncio.sleep(0.1)
    await emitter.stop(flush_timeout_s=0.5)
    assert emitter.sent == 0
    assert emitter.dropped == 250
