"""Publishing what the work only reports (progress, timings): never failing, never holding up the work.

A job's outcome (`jobs.status` done or failed, `video.tasks.finished`) is a promise and is awaited
with acks=all. Progress and timings are not: a broker that hiccups while ffmpeg runs must not abort
an encode that would have finished. `send` hands the event to a background task and returns at once;
`publish` waits, but only up to a bound, for the callers that want order (a timing before the job's
final status). Either way a refusal is counted and logged once per outage, never raised, and at most
`max_in_flight` events wait at a time: past that they are dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from shared.events import Event, Topic
from shared.kafka import EventProducer

log = logging.getLogger(__name__)


class BestEffortPublisher:
    def __init__(
        self,
        producer: EventProducer,
        *,
        timeout_s: float = 10.0,
        max_in_flight: int = 64,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._producer = producer
        self._timeout_s = timeout_s
        self._max_in_flight = max_in_flight
        self._in_flight: set[asyncio.Task[bool]] = set()
        self._failing = False
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._lost = Counter(
            "reencode_reports_lost",
            "Progress and timing events not published (broker away, too many waiting)",
            ["reason"],
            registry=registry or CollectorRegistry(),
        )

    def send(self, topic: Topic[Any], event: Event) -> None:
        """Publish in the background; returns at once and never raises."""
        if len(self._in_flight) >= self._max_in_flight:
            self.dropped += 1
            self._lost.labels("backlog").inc()
            return
        task = asyncio.create_task(self.publish(topic, event), name=f"report-{topic.name}")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def publish(self, topic: Topic[Any], event: Event) -> bool:
        """Publish and wait for the acknowledgement, at most `timeout_s`; False (logged) if refused."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._producer.publish(topic, event)
        except Exception as error:
            self.failed += 1
            self._lost.labels("refused").inc()
            if not self._failing:
                self._failing = True  # once per outage: a stalled broker would flood the log
                log.warning(
                    "%s not published (the work goes on; counting further losses): %r", topic.name, error
                )
            return False
        self.sent += 1
        if self._failing:
            self._failing = False
            log.info("%s published again (%d reports lost so far)", topic.name, self.failed + self.dropped)
        return True

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) for the events sent in the background; for shutdown and tests."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout_s)
