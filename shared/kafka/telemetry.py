"""Fire-and-forget emission of metric events: a request never waits for Kafka, and never fails for it.

`EventProducer` waits for every replica because an upload's promise depends on it. Metric events are
different: losing a few while the broker is away is acceptable, slowing or failing a user's request
is not. So `TelemetryEmitter.emit` only appends to a bounded in-memory queue (no I/O, no
serialisation, no exception); a background task drains it in batches through a producer of its own
(acks=1, lingering to fill batches) without waiting for acknowledgements, which are counted as they
arrive. When the queue is full, or Kafka refuses an event, it is dropped and counted
(`reencode_telemetry_dropped_total`), never retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from typing import Any

from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.events import Event, Topic
from shared.kafka.clients import kafka_producer
from shared.kafka.producer import encode_headers
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

#: Events handed to the producer between two yields to the event loop.
YIELD_EVERY = 16


class TelemetryEmitter:
    """A bounded buffer of metric events, flushed to Kafka in the background."""

    def __init__(
        self,
        settings: KafkaSettings,
        client_id: str,
        registry: CollectorRegistry | None = None,
        capacity: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.1,
        send_timeout_ms: int = 5_000,
    ) -> None:
        self._settings = settings
        self._client_id = client_id
        self._capacity = capacity
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._send_timeout_ms = send_timeout_ms
        self._queue: deque[tuple[Topic[Any], Event]] = deque()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        registry = registry or CollectorRegistry()
        self._sent = Counter(
            "reencode_telemetry_sent", "Metric events handed to Kafka", ["topic"], registry=registry
        )
        self._dropped = Counter(
            "reencode_telemetry_dropped",
            "Metric events dropped (buffer full, broker away, shutdown)",
            ["reason"],
            registry=registry,
        )
        self._buffered = Gauge(
            "reencode_telemetry_buffered", "Metric events waiting to be sent", registry=registry
        )
        self._buffered.set_function(lambda: len(self._queue))
        self.sent = 0
        self.dropped = 0

    # --- the request side: cheap and never raising --------------------------------------------------

    def emit(self, topic: Topic[Any], event: Event) -> None:
        """Queue `event` for `topic`; drops (and counts) it when the buffer is full."""
        if len(self._queue) >= self._capacity:
            self._drop("buffer_full")
            return
        self._queue.append((topic, event))
        queued = len(self._queue)
        # The first event wakes the sender (which then lingers for a batch), a full batch at once.
        if queued == 1 or queued >= self._batch_size:
            self._wake.set()

    @property
    def connected(self) -> bool:
        """Whether the background producer has reached Kafka (events queue until it has)."""
        return self._producer is not None

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background sender (it connects, and reconnects, on its own)."""
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="telemetry-flush")

    async def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Send what is buffered (for up to `flush_timeout_s`), then close; the rest is dropped, counted."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + flush_timeout_s
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            # The loop finishes the batch in hand; cancelled only if that outlasts the deadline.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, max(0.1, deadline - loop.time()))
            self._task = None
        if self._producer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(), max(0.1, deadline - loop.time()))
            # Stopping flushes the producer's own batches; a broker that is away cannot hold us.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), max(0.5, deadline - loop.time()))
            self._producer = None
        while self._queue:
            self._queue.popleft()
            self._drop("shutdown")

    async def __aenter__(self) -> TelemetryEmitter:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # --- the background side -----------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping.is_set():
            if self._producer is None and not await self._connect():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 1.0)
                continue
            # Idle, the sender sleeps until an event comes (no timer: an idle process stays idle).
            await self._wake.wait()
            self._wake.clear()
            if len(self._queue) < self._batch_size and not self._stopping.is_set():
                # Linger for more events, unless the batch fills or we are stopping.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._flush_interval_s)
                self._wake.clear()
            await self._drain()

    async def _connect(self) -> bool:
        producer = kafka_producer(
            self._settings,
            client_id=f"{self._client_id}.telemetry",
            # One acknowledgement is enough for figures; batches fill while lingering.
            acks=1,
            linger_ms=50,
            request_timeout_ms=self._send_timeout_ms,
        )
        try:
            await producer.start()
        except Exception as error:
            log.warning("telemetry producer cannot reach Kafka yet: %s", error)
            with contextlib.suppress(Exception):
                await producer.stop()
            return False
        self._producer = producer
        return True

    async def _drain(self) -> None:
        """Hand every queued event to the producer; acknowledgements are counted as they come."""
        producer = self._producer
        handed = 0
        while self._queue and producer is not None:
            handed += 1
            if handed % YIELD_EVERY == 0:
                # Serialising hundreds of events in one go would hold the event loop for
                # milliseconds: requests that arrive meanwhile get their turn between slices.
                await asyncio.sleep(0)
            topic, event = self._queue.popleft()
            try:
                future = await producer.send(
                    topic.name,
                    value=event.model_dump_json().encode(),
                    key=topic.key(event).encode(),
                    headers=encode_headers(
                        type(event).__name__, int(getattr(event, "schema_version", 1)), event.correlation_id
                    ),
                )
            except Exception as error:
                log.debug("telemetry event dropped: %s", error)
                self._drop("broker")
                continue
            future.add_done_callback(functools.partial(self._delivered, topic.name))

    def _delivered(self, topic_name: str, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            self._drop("broker")
        else:
            self.sent += 1
            self._sent.labels(topic_name).inc()

    def _drop(self, reason: str) -> None:
        self.dropped += 1
        self._dropped.labels(reason).inc()
