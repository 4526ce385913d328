"""What every service process does besides its own work: stop on signals and say it is alive."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.events import SERVICE_HEARTBEATS, ServiceHeartbeat, new_id, utc_now
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import EventProducer

log = logging.getLogger(__name__)


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Call `stop` on SIGINT or SIGTERM (Ctrl-C, `docker stop`, the local supervisor)."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        log.info("received %s: shutting down gracefully", signal.Signals(signum).name)
        stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


@dataclass(frozen=True)
class ServiceIdentity:
    """Who a running process is, as its heartbeats and logs tell it."""

    service: str
    instance_id: str
    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    started_at: datetime = field(default_factory=utc_now)

    def heartbeat(self) -> ServiceHeartbeat:
        return ServiceHeartbeat(
            correlation_id=new_id(),
            service=self.service,
            instance_id=self.instance_id,
            host=socket.gethostname(),
            started_at=self.started_at,
            consumes=self.consumes,
            produces=self.produces,
        )


async def send_heartbeats(
    producer: EventProducer, identity: ServiceIdentity, interval_s: float = 5.0
) -> None:
    """Publish a heartbeat every `interval_s` until cancelled; a broker outage only skips beats."""
    while True:
        try:
            await producer.publish(SERVICE_HEARTBEATS, identity.heartbeat())
        except Exception as error:
            log.warning("heartbeat not sent: %s", error)
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def consumers_running(
    producer: EventProducer, identity: ServiceIdentity, consumers: list[EventConsumer[Any]]
) -> AsyncIterator[None]:
    """Run `consumers` and the heartbeat beside the block (an HTTP server's lifetime, say).

    On exit the consumers finish the message in hand, commit and leave their groups.
    """
    runs = [asyncio.create_task(consumer.run(), name=f"consume-{identity.service}") for consumer in consumers]
    heartbeats = asyncio.create_task(send_heartbeats(producer, identity))
    try:
        yield
    finally:
        for consumer in consumers:
            consumer.stop()
        heartbeats.cancel()
        for run in asyncio.as_completed(runs):
            try:
                await run
            except Exception:
                log.exception("a consumer of %s ended with an error", identity.service)
