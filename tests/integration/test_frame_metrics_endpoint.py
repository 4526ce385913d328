"""A worker (no HTTP of its own) serves /metrics and /healthz on TELEMETRY_METRICS_PORT, with its
consumers' state per group, on the session's real broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator

import httpx
from prometheus_client import CollectorRegistry, Counter

from infra.local.processes import free_port
from infra.local.stack import LocalStack
from shared.events import JOBS_REQUESTED, new_id
from shared.frame import Consumes, Runtime, ServiceConfig, ServiceDeclaration, Wiring, serve
from shared.frame.config import MetricsEndpointSettings
from shared.frame.telemetry import TelemetrySettings
from shared.kafka import Delivery


async def _ignore(_event: object, _delivery: Delivery) -> None:
    return None


async def test_a_worker_serves_its_metrics_and_its_consumers_state(stack: LocalStack) -> None:
    group = f"frame-metrics-{new_id()[:8]}"
    jobs = Consumes(JOBS_REQUESTED, group=group)
    declaration = ServiceDeclaration("frame-worker", consumes=(jobs,))
    port = free_port()
    config = ServiceConfig(
        kafka=stack.config.kafka,
        telemetry=TelemetrySettings(heartbeat_interval_s=0.2, publish_logs=False),
        metrics_endpoint=MetricsEndpointSettings(port=port),
    )
    registry = CollectorRegistry()
    Counter("frame_test_things", "Things the worker did", registry=registry).inc(3)

    @contextlib.asynccontextmanager
    async def setup(runtime: Runtime) -> AsyncIterator[Wiring]:
        assert runtime.app is None  # a worker has no routes of its own to add
        yield Wiring(bindings=[jobs.handled_by(_ignore)], registry=registry)

    running = asyncio.create_task(serve(declaration, config, setup))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            assert (await http.get("/healthz")).json()["service"] == "frame-worker"
            exposed = (await http.get("/metrics")).text
    finally:
        if not running.done():  # only while the frame's own handler is installed: a graceful stop
            os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(running, 60)
    assert "frame_test_things_total 3.0" in exposed
    labels = f'group="{group}",topic="{JOBS_REQUESTED.name}"'
    assert f"reencode_consumer_waiting_on_infrastructure{{{labels}}} 0.0" in exposed
    assert f"reencode_consumer_infrastructure_retries_total{{{labels}}} 0.0" in exposed


async def test_a_worker_without_a_metrics_port_listens_nowhere(stack: LocalStack) -> None:
    declaration = ServiceDeclaration("frame-quiet")
    config = ServiceConfig(
        kafka=stack.config.kafka, telemetry=TelemetrySettings(heartbeat_interval_s=0.2, publish_logs=False)
    )
    seen: list[Runtime] = []

    @contextlib.asynccontextmanager
    async def setup(runtime: Runtime) -> AsyncIterator[Wiring]:
        seen.append(runtime)
        yield Wiring(tasks={"tick": lambda: asyncio.sleep(3600)})

    running = asyncio.create_task(serve(declaration, config, setup))
    for _ in range(300):
        if seen:
            break
        await asyncio.sleep(0.1)
    if not running.done():
        os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(running, 60)
    assert seen
    assert seen[0].app is None
