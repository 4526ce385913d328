"""Reading the metric and job topics in batches, and the snapshots of peer instances.

Why not the shared one-record-at-a-time `EventConsumer`: metric events come by the thousand per
second and folding one into the windows takes microseconds, so committing per record would be the
bottleneck. The windows live in memory and are rebuilt from the log instead of from commits: when
the group hands this instance its partitions (at start, on failover, when an instance joins), it
forgets what it held and rewinds:

- metric topics to `rewind_s` ago (the longest window) by timestamp, so a restart loses no figure
  still inside a window;
- job topics to the beginning, so the backlog (queued, processing) is exact.

Offsets are still committed (automatically) so `kafka-consumer-groups` shows the group's lag.
Records that do not decode go to `dead-letters` with the reason, as everywhere else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from pydantic import ValidationError

from services.metrics.aggregator import Aggregator, MetricEvent
from services.metrics.decoding import BatchDecoder
from shared.events import (
    ALERTS,
    DEAD_LETTERS,
    JOBS_REQUESTED,
    JOBS_STATUS,
    METRICS_CLICKS,
    METRICS_REQUESTS,
    METRICS_SNAPSHOTS,
    METRICS_WORK,
    PLAYBACK_EVENTS,
    Alert,
    AlertState,
    MetricsSnapshot,
    Topic,
)
from shared.kafka import (
    EventProducer,
    close_within,
    getmany_unless_stopped,
    unless_stopped,
)
from shared.kafka.clients import kafka_consumer, seek_to_time, topic_partitions
from shared.kafka.consumer import describe_validation_error
from shared.kafka.dead_letters import dead_letter
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

#: Topics whose figures live in windows: replayed from the start of the longest window.
WINDOWED_TOPICS: tuple[Topic[Any], ...] = (METRICS_REQUESTS, METRICS_CLICKS, METRICS_WORK, PLAYBACK_EVENTS)
#: Topics that hold job state: replayed from the beginning.
STATE_TOPICS: tuple[Topic[Any], ...] = (JOBS_REQUESTED, JOBS_STATUS)


class _Rewind(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, reader: MetricStreamReader) -> None:
        self._reader = reader

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self._reader.rewind(list(assigned))


class MetricStreamReader:
    """Feeds every record of the metric and job topics on this instance's partitions to `aggregator`."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        group_id: str,
        client_id: str,
        aggregator: Aggregator,
        producer: EventProducer,
        rewind_s: float,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._aggregator = aggregator
        self._producer = producer
        self._group_id = group_id
        self._rewind_s = rewind_s
        self._on_batch = on_batch
        self._topics = {topic.name: topic for topic in (*WINDOWED_TOPICS, *STATE_TOPICS)}
        self._requests = BatchDecoder(METRICS_REQUESTS.event_type)
        self._stopping = asyncio.Event()
        self.assigned: tuple[str, ...] = ()
        self.dead_lettered = 0
        # Bad records found while decoding a batch, published once the batch is folded in.
        self._pending_dead: list[tuple[ConsumerRecord[bytes, bytes], str]] = []
        self._consumer = kafka_consumer(
            settings,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=True,
            auto_offset_reset="latest",
            # Range keeps partition i of jobs.requested, jobs.status and metrics.work (same key, same
            # count) on the same instance, so each job's request, reports and timings meet in one place.
            partition_assignment_strategy=(RangePartitionAssignor,),
            fetch_max_wait_ms=settings.idle_fetch_wait_ms,
        )
        self._idle_poll_ms = settings.idle_fetch_wait_ms
        self._close_timeout_s = settings.close_timeout_s

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `stop()`; leaves the group on the way out so partitions move at once."""
        self._consumer.subscribe(list(self._topics), listener=_Rewind(self))
        try:
            await unless_stopped(self._consumer.start(), self._stopping)
            if self._stopping.is_set():
                return  # stopped before the brokers answered
            log.info("consuming %s in group %s", ", ".join(self._topics), self._group_id)
            while not self._stopping.is_set():
                batch = await getmany_unless_stopped(
                    self._consumer, self._stopping, timeout_ms=self._idle_poll_ms, max_records=5000
                )
                count = 0
                for partition, records in batch.items():
                    if partition.topic == METRICS_REQUESTS.name:
                        self._fold_requests(records)
                    else:
                        events = [event for event in map(self._decode, records) if event is not None]
                        self._aggregator.observe_all(events)
                    count += len(records)
                if self._on_batch is not None and count:
                    self._on_batch(count)
                await self._dead_letter_pending()
        finally:
            await close_within(self._consumer.stop(), self._close_timeout_s, f"consumer of {self._group_id}")
            log.info("left group %s", self._group_id)

    async def rewind(self, assigned: list[TopicPartition]) -> None:
        """Forget everything and replay the partitions this instance now owns."""
        self._aggregator.clear()
        self.assigned = tuple(sorted(f"{tp.topic}/{tp.partition}" for tp in assigned))
        windowed = [tp for tp in assigned if tp.topic in {t.name for t in WINDOWED_TOPICS}]
        state = [tp for tp in assigned if tp.topic not in {t.name for t in WINDOWED_TOPICS}]
        if state:
            await self._consumer.seek_to_beginning(*state)
        await seek_to_time(self._consumer, windowed, int((time.time() - self._rewind_s) * 1000))
        log.info("replaying %d partitions (windows from %.0f s ago)", len(assigned), self._rewind_s)

    def _fold_requests(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """The hot topic: decoded as one batch into rows, folded grouped (see `observe_requests`)."""
        rows, bad = self._requests.decode([record.value for record in records])
        self._aggregator.observe_requests(rows)
        self._pending_dead.extend((records[index], reason) for index, reason in bad)

    # --- bad records ----------------------------------------------------------------------------------

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> MetricEvent | None:
        topic = self._topics[record.topic]
        try:
            event: MetricEvent = topic.event_type.model_validate_json(record.value or b"")
            return event
        except ValidationError as error:
            reason = f"invalid {topic.event_type.__name__}: {describe_validation_error(error)}"
            self._pending_dead.append((record, reason))
            return None

    async def _dead_letter_pending(self) -> None:
        pending, self._pending_dead = self._pending_dead, []
        for record, reason in pending:
            self.dead_lettered += 1
            log.error("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
            try:
                letter = dead_letter(record, reason, attempts=1, consumer_group=self._group_id)
                await self._producer.publish(DEAD_LETTERS, letter)
            except Exception as error:
                log.warning("dead letter not published: %s", error)


class SnapshotReader:
    """Reads every instance's snapshots (no group: each instance needs all of them)."""

    def __init__(
        self,
        settings: KafkaSettings,
        client_id: str,
        on_snapshot: Callable[[MetricsSnapshot], None],
        since_s: float = 30.0,
    ) -> None:
        self._on_snapshot = on_snapshot
        self._since_s = since_s
        self._stopping = asyncio.Event()
        self._consumer = kafka_consumer(
            settings,
            group_id=None,
            client_id=f"{client_id}.snapshots",
            fetch_max_wait_ms=settings.idle_fetch_wait_ms,
        )
        self._idle_poll_ms = settings.idle_fetch_wait_ms
        self._close_timeout_s = settings.close_timeout_s

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        try:
            await unless_stopped(self._consumer.start(), self._stopping)
            if not self._stopping.is_set():
                partitions = topic_partitions(self._consumer, METRICS_SNAPSHOTS.name)
                self._consumer.assign(partitions)
                since_ms = int((time.time() - self._since_s) * 1000)
                await unless_stopped(seek_to_time(self._consumer, partitions, since_ms), self._stopping)
            while not self._stopping.is_set():
                batch = await getmany_unless_stopped(
                    self._consumer, self._stopping, timeout_ms=self._idle_poll_ms
                )
                for records in batch.values():
                    for record in records:
                        try:
                            self._on_snapshot(MetricsSnapshot.model_validate_json(record.value or b""))
                        except ValidationError as error:
                            log.warning("ignoring a bad snapshot: %s", describe_validation_error(error))
        finally:
            await close_within(self._consumer.stop(), self._close_timeout_s, "snapshot reader")


async def raised_alerts(settings: KafkaSettings, source: str, since_s: float = 24 * 3600) -> list[Alert]:
    """Alerts from `source` whose last word on `alerts` (within `since_s`) is RAISED.

    A restarted judge reads them so it can clear what an earlier instance raised.
    """
    consumer = kafka_consumer(settings, group_id=None)
    await consumer.start()
    try:
        partitions = topic_partitions(consumer, ALERTS.name)
        consumer.assign(partitions)
        await seek_to_time(consumer, partitions, int((time.time() - since_s) * 1000))
        ends = await consumer.end_offsets(partitions)
        latest: dict[str, Alert] = {}
        while await _behind(consumer, ends):
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    try:
                        alert = Alert.model_validate_json(record.value or b"")
                    except ValidationError:
                        continue
                    if alert.source == source:
                        latest[alert.key] = alert
        return [alert for alert in latest.values() if alert.state == AlertState.RAISED]
    finally:
        await close_within(consumer.stop(), settings.close_timeout_s, "alert reader")


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False
