"""The service frame on the session's real broker: it runs a declaration, supervises its parts,
serves /healthz and /metrics, and stops gracefully — or loudly, when a part dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator

import httpx
import pytest

from infra.local.processes import free_port
from infra.local.stack import LocalStack
from shared.events import JOBS_REQUESTED, SERVICE_HEARTBEATS, InstanceState, ServiceHeartbeat, new_id
from shared.frame import (
    Consumes,
    HttpSettings,
    Runtime,
    ServiceConfig,
    ServiceDeclaration,
    ServiceFailed,
    Wiring,
    serve,
)
from shared.frame.telemetry import TelemetrySettings
from shared.kafka import Delivery
from shared.kafka.clients import kafka_consumer
from shared.settings import KafkaSettings


class TestConfig(ServiceConfig):
    __test__ = False
    listen: HttpSettings

    def http(self) -> HttpSettings:
        return self.listen


def config_for(kafka: KafkaSettings, instance_id: str) -> TestConfig:
    return TestConfig.model_validate(
        {
            "kafka": kafka,
            "instance": {"instance_id": instance_id},
            "telemetry": TelemetrySettings(heartbeat_interval_s=0.2, publish_logs=False),
            "listen": HttpSettings(port=free_port()),
        }
    )


class Crashing:
    """A loop that dies after a moment, as a consumer with a bug would."""

    async def run(self) -> None:
        await asyncio.sleep(0.5)
        raise RuntimeError("a bug in the loop")

    def stop(self) -> None:
        return None


async def _ignore(_event: object, _delivery: Delivery) -> None:
    return None


async def heartbeats_of(
    kafka: KafkaSettings, instance_id: str, within_s: float = 30.0
) -> list[ServiceHeartbeat]:
    """Every heartbeat `instance_id` sent, read from the start of the topic."""
    consumer = kafka_consumer(kafka, SERVICE_HEARTBEATS.name, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    beats: list[ServiceHeartbeat] = []
    try:
        deadline = asyncio.get_running_loop().time() + within_s
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    beat = ServiceHeartbeat.model_validate_json(record.value)
                    if beat.instance_id == instance_id:
                        beats.append(beat)
            if any(beat.state == InstanceState.STOPPING for beat in beats):
                break
    finally:
        await consumer.stop()
    return beats


async def test_a_service_serves_health_and_metrics_and_says_goodbye_on_sigterm(stack: LocalStack) -> None:
    instance_id = f"frame-{new_id()[:8]}"
    jobs = Consumes(JOBS_REQUESTED, group=f"frame-test-{new_id()[:8]}")
    declaration = ServiceDeclaration("frame-test", consumes=(jobs,), produces=(JOBS_REQUESTED,), http=True)
    config = config_for(stack.config.kafka, instance_id)

    @contextlib.asynccontextmanager
    async def setup(runtime: Runtime) -> AsyncIterator[Wiring]:
        assert runtime.app is not None

        @runtime.app.get("/hello")
        async def hello() -> str:
            return "hello"

        yield Wiring(bindings=[jobs.handled_by(_ignore)])

    running = asyncio.create_task(serve(declaration, config, setup))
    base = f"http://127.0.0.1:{config.listen.port}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        for _ in range(200):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/healthz")).status_code == 200:
                    break
            await asyncio.sleep(0.1)
        health = (await http.get("/healthz")).json()
        assert health == {"status": "ok", "service": "frame-test", "instance": instance_id}
        assert (await http.get("/hello")).json() == "hello"
        assert (await http.get("/metrics")).status_code == 200
    os.kill(os.getpid(), signal.SIGTERM)  # the frame's own handler: a graceful stop
    await asyncio.wait_for(running, 60)

    beats = await heartbeats_of(stack.config.kafka, instance_id)
    assert beats[-1].state == InstanceState.STOPPING
    assert beats[0].consumes == (JOBS_REQUESTED.name,)
    assert set(beats[0].produces) == {JOBS_REQUESTED.name, SERVICE_HEARTBEATS.name, "logs", "dead-letters"}


async def test_a_part_that_dies_stops_the_whole_service_loudly(stack: LocalStack) -> None:
    declaration = ServiceDeclaration("frame-crash")
    config = config_for(stack.config.kafka, f"frame-{new_id()[:8]}")

    @contextlib.asynccontextmanager
    async def setup(_runtime: Runtime) -> AsyncIterator[Wiring]:
        yield Wiring(workers=[Crashing()], tasks={"forever": lambda: asyncio.sleep(3600)})

    with pytest.raises(ServiceFailed, match="a bug in the loop"):
        await asyncio.wait_for(serve(declaration, config, setup), 60)


async def test_a_declared_consumer_without_a_handler_is_refused_at_start(stack: LocalStack) -> None:
    jobs = Consumes(JOBS_REQUESTED, group="frame-unbound")
    declaration = ServiceDeclaration("frame-unbound", consumes=(jobs,))
    config = config_for(stack.config.kafka, f"frame-{new_id()[:8]}")

    @contextlib.asynccontextmanager
    async def setup(_runtime: Runtime) -> AsyncIterator[Wiring]:
        yield Wiring()

    with pytest.raises(ValueError, match="no handler for jobs"):
        await asyncio.wait_for(serve(declaration, config, setup), 60)
