"""The one producer every service uses: typed events in, acknowledged records out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import Any, Self

from shared.events import E, Topic
from shared.kafka.clients import kafka_producer
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)


def encode_headers(event_type: str, schema_version: int, correlation_id: str) -> list[tuple[str, bytes]]:
    # Headers let tools route or filter without parsing the value.
    return [
        ("event-type", event_type.encode()),
        ("schema-version", str(schema_version).encode()),
        ("correlation-id", correlation_id.encode()),
    ]


async def close_within(closing: Coroutine[Any, Any, None], timeout_s: float, what: str) -> None:
    """Await a Kafka client's close, but no longer than `timeout_s` (a dead cluster never answers)."""
    try:
        await asyncio.wait_for(closing, timeout_s)
    except TimeoutError:
        log.warning("%s not closed cleanly within %.0f s: the brokers are unreachable", what, timeout_s)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # we are being cancelled ourselves: let it through
        # aiokafka re-raises the cancellation of its own background fetch when it closes while the
        # brokers are away; the client is closed all the same.
        log.warning("%s closed while the brokers were unreachable", what)


class EventProducer:
    """Publishes catalogue events with acks=all and idempotence, keyed as the topic says.

    `publish` returns once every in-sync replica has the record, so a caller that answers a user
    after it can promise the message is durable.
    """

    def __init__(self, settings: KafkaSettings, client_id: str) -> None:
        self._producer = kafka_producer(
            settings,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            # Callers wait for each acknowledgement (a job's dispatch waits on two of them), so
            # lingering only adds latency; records sent while a request is in flight batch anyway.
            linger_ms=0,
            request_timeout_ms=settings.request_timeout_ms,
        )
        self._close_timeout_s = settings.close_timeout_s

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        """Flush what is buffered, then close; in bounded time even when the brokers are gone."""
        await close_within(self._producer.stop(), self._close_timeout_s, "producer")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(self, topic: Topic[E], event: E) -> Any:
        """Send `event` to `topic` and wait for the broker's acknowledgement (RecordMetadata)."""
        return await (await self._send(topic, event))

    async def publish_many(self, topic: Topic[E], events: Sequence[E]) -> list[BaseException | None]:
        """Send `events` to `topic` together and wait for all the acknowledgements: for each event
        None, or the error that kept it out. Cheaper than one `publish` task per event (log lines)."""
        sent: list[asyncio.Future[Any] | BaseException] = []
        for event in events:
            try:
                sent.append(await self._send(topic, event))
            except Exception as error:  # refused before sending (too large, closed producer)
                sent.append(error)
        waiting = [item for item in sent if isinstance(item, asyncio.Future)]
        acknowledged = iter(await asyncio.gather(*waiting, return_exceptions=True))
        outcomes: list[BaseException | None] = []
        for item in sent:
            result = next(acknowledged) if isinstance(item, asyncio.Future) else item
            outcomes.append(result if isinstance(result, BaseException) else None)
        return outcomes

    async def _send(self, topic: Topic[E], event: E) -> asyncio.Future[Any]:
        if not isinstance(event, topic.event_type):
            raise TypeError(f"{type(event).__name__} does not belong on topic {topic.name}")
        future: asyncio.Future[Any] = await self._producer.send(
            topic.name,
            value=event.model_dump_json().encode(),
            key=topic.key(event).encode(),
            headers=encode_headers(topic.event_type.__name__, _schema_version(event), event.correlation_id),
        )
        return future


def _schema_version(event: Any) -> int:
    return int(getattr(event, "schema_version", 1))
