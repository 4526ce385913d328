"""The consumer of the webhook delivery topics: many messages at once, each when it is due.

The frame's consumer loop takes one record at a time; here one hanging receiver would hold up every
other endpoint. So each record runs as its own task (bounded by `max_in_flight`), and offsets are
committed up to the first record whose task is not finished, so a crash or a rebalance sends the
unfinished ones again (receivers deduplicate by `webhook-id`).

A record not yet due (a retry) is never slept on: its partition is paused and rewound to it, and
resumed when it is due; the other partitions go on. A retry topic holds one delay, so its records
come due in the order they were written: the record at a partition's head is always the next due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from shared.events import Topic, WebhookDelivery
from shared.kafka.clients import kafka_consumer
from shared.kafka.consumer import describe_validation_error, getmany_unless_stopped, unless_stopped
from shared.kafka.failures import is_infrastructure_failure
from shared.kafka.producer import close_within
from shared.logs import correlation_scope
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]
Handle = Callable[[Record, WebhookDelivery], Awaitable[None]]
GiveUp = Callable[[Record, str], Awaitable[None]]

#: Tries of a record whose handling raised for a reason other than an outage, before it is dead-lettered.
HANDLER_TRIES = 3
OUTAGE_MAX_BACKOFF_S = 30.0
POLL_MS = 500


class DueConsumer:
    """Runs `handle` on every message of `topics` (one group) once due, concurrently."""

    def __init__(
        self,
        topics: Sequence[Topic[WebhookDelivery]],
        *,
        group_id: str,
        settings: KafkaSettings,
        client_id: str,
        handle: Handle,
        give_up: GiveUp,
        max_in_flight: int,
        shutdown_grace_s: float,
    ) -> None:
        self._topics = [topic.name for topic in topics]
        self._group_id = group_id
        self._handle = handle
        self._give_up = give_up
        self._max_in_flight = max_in_flight
        self._grace_s = shutdown_grace_s
        self._close_timeout_s = settings.close_timeout_s
        self._consumer: AIOKafkaConsumer = kafka_consumer(
            settings, group_id=group_id, client_id=client_id, auto_offset_reset="earliest"
        )
        self._stopping = asyncio.Event()
        #: Per partition: the tasks of records taken and not finished, by offset.
        self._tasks: dict[TopicPartition, dict[int, asyncio.Task[None]]] = {}
        #: Per partition: the offset after the last record taken.
        self._next: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        #: Paused partitions: until when (wall clock), or None until a slot frees.
        self._held: dict[TopicPartition, float | None] = {}

    def stop(self) -> None:
        self._stopping.set()

    @property
    def in_flight(self) -> int:
        return sum(len(tasks) for tasks in self._tasks.values())

    async def run(self) -> None:
        self._consumer.subscribe(self._topics, listener=_Rebalance(self))
        try:
            await unless_stopped(self._consumer.start(), self._stopping)
            if self._stopping.is_set():
                return
            log.info("consuming %s in group %s", ", ".join(self._topics), self._group_id)
            while not self._stopping.is_set():
                self._resume_ready()
                batch = await getmany_unless_stopped(
                    self._consumer, self._stopping, timeout_ms=self._poll_ms()
                )
                for partition, records in batch.items():
                    self._take(partition, records)
                await self._commit(set(self._next))
        finally:
            await self._drain()
            with contextlib.suppress(KafkaError):
                await self._commit(set(self._next))
            await close_within(self._consumer.stop(), self._close_timeout_s, f"consumer of {self._group_id}")

    # --- taking records -------------------------------------------------------------------------

    def _take(self, partition: TopicPartition, records: list[Record]) -> None:
        for record in records:
            message, problem = _decode(record)
            due = message.due_at.timestamp() if message is not None else 0.0
            if due > time.time() or self.in_flight >= self._max_in_flight:
                # Rewind to this record and hold the partition; the rest of the batch is fetched again.
                self._consumer.pause(partition)
                self._consumer.seek(partition, record.offset)
                self._held[partition] = due if due > time.time() else None
                return
            task = asyncio.create_task(self._run_one(record, message, problem))
            self._tasks.setdefault(partition, {})[record.offset] = task
            task.add_done_callback(partial(self._finished, partition, record.offset))
            self._next[partition] = record.offset + 1

    def _resume_ready(self) -> None:
        now, assigned = time.time(), self._consumer.assignment()
        for partition, until in list(self._held.items()):
            ready = self.in_flight < self._max_in_flight if until is None else until <= now
            if ready:
                del self._held[partition]
                if partition in assigned:
                    self._consumer.resume(partition)

    def _poll_ms(self) -> int:
        """Wake up in time for the next held record that comes due."""
        waits = [until - time.time() for until in self._held.values() if until is not None]
        soonest = min(waits, default=POLL_MS / 1000)
        return max(10, min(POLL_MS, int(soonest * 1000)))

    def _finished(self, partition: TopicPartition, offset: int, task: asyncio.Task[None]) -> None:
        # A cancelled task (rebalance, shutdown) or one that failed (it could not even dead-letter)
        # did not finish: its offset stays uncommitted, so the record is read again after a restart
        # or a rebalance, never skipped.
        tasks = self._tasks.get(partition)
        if tasks is None or tasks.get(offset) is not task or task.cancelled():
            return
        if task.exception() is not None:
            log.error(
                "%s[%d]@%d left unfinished: %r",
                partition.topic,
                partition.partition,
                offset,
                task.exception(),
            )
            return
        del tasks[offset]

    async def _run_one(self, record: Record, message: WebhookDelivery | None, problem: str) -> None:
        if message is None:
            await self._dead_letter(record, problem)
            return
        with correlation_scope(message.correlation_id):
            failures, outages = 0, 0
            while True:
                try:
                    await self._handle(record, message)
                    return
                except Exception as error:
                    if is_infrastructure_failure(error) and not self._stopping.is_set():
                        outages += 1
                        log.warning(
                            "outage while delivering %s (try %d): %r", message.webhook_id, outages, error
                        )
                        await asyncio.sleep(min(OUTAGE_MAX_BACKOFF_S, 0.5 * 2 ** min(outages, 10)))
                        continue
                    failures += 1
                    log.exception(
                        "delivering %s failed (%d of %d)", message.webhook_id, failures, HANDLER_TRIES
                    )
                    if failures >= HANDLER_TRIES:
                        await self._dead_letter(record, f"the delivery step failed: {error!r}")
                        return
                    await asyncio.sleep(0.5 * failures)

    async def _dead_letter(self, record: Record, reason: str) -> None:
        """Give the record up, waiting out a Kafka outage (it raises only once the consumer stops)."""
        outages = 0
        while True:
            try:
                await self._give_up(record, reason)
                return
            except Exception as error:
                if not is_infrastructure_failure(error) or self._stopping.is_set():
                    raise
                outages += 1
                log.warning("cannot dead-letter yet (try %d): %r", outages, error)
                await asyncio.sleep(min(OUTAGE_MAX_BACKOFF_S, 0.5 * 2 ** min(outages, 10)))

    # --- offsets and rebalances -----------------------------------------------------------------

    async def _commit(self, partitions: set[TopicPartition]) -> None:
        """Commit, per partition, up to the first unfinished record (or past the last one taken)."""
        offsets: dict[TopicPartition, int] = {}
        assigned = self._consumer.assignment()
        for partition in partitions & assigned:
            if partition not in self._next:
                continue
            pending = self._tasks.get(partition)
            position = min(pending) if pending else self._next[partition]
            if self._committed.get(partition) != position:
                offsets[partition] = position
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as error:
            log.warning("commit failed (retried at the next one): %r", error)
            return
        self._committed.update(offsets)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Commit what is finished while the partitions are still ours, then drop the rest: their
        next owner sends them again."""
        with contextlib.suppress(KafkaError):
            await self._commit(revoked)
        cancelled: list[asyncio.Task[None]] = []
        for partition in revoked:
            cancelled.extend(self._tasks.pop(partition, {}).values())
            self._next.pop(partition, None)
            self._committed.pop(partition, None)
            self._held.pop(partition, None)
        for task in cancelled:
            task.cancel()
        if cancelled:
            await asyncio.gather(*cancelled, return_exceptions=True)
            log.info("handed back %d unfinished deliveries on revoked partitions", len(cancelled))

    async def _drain(self) -> None:
        """At a stop: let the tasks in hand finish within the grace period, then hand back the rest."""
        tasks = [task for tasks in self._tasks.values() for task in tasks.values() if not task.done()]
        if not tasks:
            return
        _done, late = await asyncio.wait(tasks, timeout=self._grace_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)
            log.info("handed back %d deliveries unfinished at shutdown", len(late))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: DueConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        await self._consumer.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        log.info("assigned %d delivery partitions", len(assigned))


def _decode(record: Record) -> tuple[WebhookDelivery | None, str]:
    try:
        return WebhookDelivery.model_validate_json(record.value or b""), ""
    except ValidationError as error:
        return None, f"not a WebhookDelivery: {describe_validation_error(error)}"
