"""What every service process says about itself: heartbeats with its load, and its log lines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.events import (
    LOGS,
    SERVICE_HEARTBEATS,
    InstanceState,
    ServiceHeartbeat,
    ServiceLoad,
    new_id,
    utc_now,
)
from shared.kafka.producer import EventProducer
from shared.logs import LogBuffer, log_buffer, publishing_scope

log = logging.getLogger(__name__)


class TelemetrySettings(BaseSettings):
    """How often a process says it is alive and ships its log lines (tests shorten both)."""

    model_config = SettingsConfigDict(env_prefix="TELEMETRY_")

    heartbeat_interval_s: float = 5.0
    log_flush_interval_s: float = 0.5
    #: Off, log lines stay in the process's own stderr/log file only.
    publish_logs: bool = True


def package_version() -> str:
    try:
        return metadata.version("reencode")
    except metadata.PackageNotFoundError:
        return "unknown"


class LoadMeter:
    """The process's CPU use between two readings, its memory and the host's load."""

    def __init__(self) -> None:
        self._last_cpu = time.process_time()
        self._last_wall = time.monotonic()

    def read(self) -> ServiceLoad:
        cpu, wall = time.process_time(), time.monotonic()
        elapsed = max(wall - self._last_wall, 1e-6)
        percent = 100.0 * (cpu - self._last_cpu) / elapsed
        self._last_cpu, self._last_wall = cpu, wall
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:  # no running loop
            tasks = 0
        return ServiceLoad(
            cpu_percent=round(percent, 1),
            memory_rss_bytes=_rss_bytes(),
            host_load_1m=os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0,
            tasks=tasks,
        )


def _rss_bytes() -> int:
    # /proc gives the current resident size; elsewhere the peak is the best the stdlib offers.
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass(frozen=True)
class ServiceIdentity:
    """Who a running process is, as its heartbeats and logs tell it."""

    service: str
    instance_id: str
    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    started_at: datetime = field(default_factory=utc_now)
    version: str = field(default_factory=package_version)

    def heartbeat(
        self, load: ServiceLoad | None = None, state: InstanceState = InstanceState.RUNNING
    ) -> ServiceHeartbeat:
        return ServiceHeartbeat(
            correlation_id=new_id(),
            service=self.service,
            instance_id=self.instance_id,
            host=socket.gethostname(),
            started_at=self.started_at,
            consumes=self.consumes,
            produces=self.produces,
            version=self.version,
            state=state,
            load=load or ServiceLoad(),
        )


async def send_heartbeats(
    producer: EventProducer, identity: ServiceIdentity, telemetry: TelemetrySettings
) -> None:
    """Publish a heartbeat every `interval_s` until cancelled; a broker outage only skips beats.

    Beside the beats it ships the process's log lines to the logs topic (see `publish_logs`), and
    on cancellation (a graceful stop) it sends a farewell beat so monitoring knows at once.
    """
    interval_s = telemetry.heartbeat_interval_s
    meter = LoadMeter()
    logs = (
        asyncio.create_task(publish_logs(producer, identity, telemetry.log_flush_interval_s))
        if telemetry.publish_logs
        else None
    )
    try:
        while True:
            try:
                await producer.publish(SERVICE_HEARTBEATS, identity.heartbeat(meter.read()))
            except Exception as error:
                log.warning("heartbeat not sent: %s", error)
            await asyncio.sleep(interval_s)
    finally:
        if logs is not None:
            logs.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            farewell = identity.heartbeat(meter.read(), InstanceState.STOPPING)
            await asyncio.wait_for(producer.publish(SERVICE_HEARTBEATS, farewell), timeout=2.0)
        if logs is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await logs


async def publish_logs(producer: EventProducer, identity: ServiceIdentity, flush_interval_s: float) -> None:
    """Ship this process's log lines to the logs topic until cancelled.

    Lines are queued by a bounded, non-blocking handler; this task sends them in batches. A line
    that cannot be sent is dropped (it is still in the process's own JSON log), and nothing this
    task or the Kafka client logs is queued again, so a broker outage cannot feed on itself.
    """
    with publishing_scope(), log_buffer(identity.service, identity.instance_id) as buffer:
        try:
            while True:
                await asyncio.sleep(flush_interval_s)
                await _send_batch(producer, buffer)
        finally:
            # A graceful stop's last lines (leaving groups, finishing a job) are worth a short wait.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(_send_batch(producer, buffer), timeout=2.0)


async def _send_batch(producer: EventProducer, buffer: LogBuffer) -> None:
    batch = buffer.drain()
    if not batch:
        return
    # One send per line into the producer's batch, one wait for them all (no task per line).
    outcomes = await producer.publish_many(LOGS, batch)
    buffer.dropped += sum(outcome is not None for outcome in outcomes)


@contextlib.asynccontextmanager
async def heartbeating(
    producer: EventProducer, identity: ServiceIdentity, telemetry: TelemetrySettings
) -> AsyncIterator[None]:
    """Heartbeats (and log shipping) for the block; on exit the farewell beat is sent before the
    caller closes its producer."""
    heartbeats = asyncio.create_task(send_heartbeats(producer, identity, telemetry), name="heartbeats")
    try:
        yield
    finally:
        heartbeats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeats
