"""The one consumer loop every service uses, with at-least-once delivery.

The shape follows aiokafka's manual-commit example and arq's worker:

1. take one record, decode it into its catalogue model;
2. run the service's handler, retrying on errors a bounded number of times;
3. when the handler keeps failing, or the record does not decode, publish a `DeadLetter` and move on;
   but an outage of the infrastructure (database, storage, Kafka: `shared.kafka.failures`) is no
   fault of the record: it is retried with capped backoff for as long as the outage lasts, never
   counted against the retries and never dead-lettered;
4. commit the record's offset only then, so a crash at any point redelivers it (handlers are
   idempotent, so a redelivery is harmless);
5. on `stop()`, take no new records, finish (or, past the grace period, hand back) the record in hand,
   commit and leave the group so its partitions move at once.

While a handler runs, the loop keeps polling with every partition paused. Kafka therefore still
sees a live member however long the job takes, and never hands the job to a second worker while the
first is busy with it (the trap of `max.poll.interval.ms`).

A rebalance still revokes partitions (an eager one revokes them all, whenever a member joins or
leaves). When the partition of the record in hand is revoked, the handler gets `revoke_grace_s` to
finish (and its offset is committed while the partition is still ours); past that it carries on until
the new assignment is known. If the partition came back to this member (the usual case when another
member joins or leaves a group whose partitions mostly stay put), the work goes on and nothing is
redone; if it moved, the handler is cancelled and its offset is never committed, so only the
partition's next owner completes the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from pydantic import ValidationError

from shared.events import DEAD_LETTERS, E, Topic
from shared.kafka.clients import kafka_consumer
from shared.kafka.dead_letters import dead_letter
from shared.kafka.failures import PermanentError, is_infrastructure_failure
from shared.kafka.producer import EventProducer, close_within
from shared.logs import correlation_scope
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """Where a record came from, and which attempt at it this is (1-based)."""

    topic: str
    partition: int
    offset: int
    key: str | None
    #: Tries so far, those that met an infrastructure outage included.
    attempt: int


@dataclass(frozen=True)
class RetryPolicy:
    #: Tries a record gets before it is dead-lettered (infrastructure outages do not count).
    max_attempts: int = 3
    first_backoff_s: float = 0.5
    max_backoff_s: float = 5.0
    #: The cap on the wait between two tries while the infrastructure is away.
    outage_max_backoff_s: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed `attempt` (1-based): exponential, capped."""
        return float(min(self.max_backoff_s, self.first_backoff_s * 2 ** (attempt - 1)))

    def outage_backoff(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th try (1-based) that met an outage."""
        return float(min(self.outage_max_backoff_s, self.first_backoff_s * 2 ** (min(attempt, 32) - 1)))


Handler = Callable[[E, Delivery], Awaitable[None]]
Batch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
T = TypeVar("T")
GiveUpHook = Callable[[E, str], Awaitable[None]]


@dataclass(frozen=True)
class Route(Generic[E]):
    """A catalogue topic a consumer reads, and the handler its events go to (typed: they agree)."""

    topic: Topic[E]
    handler: Handler[E]
    #: Called once a record is dead-lettered after its handler kept failing.
    on_give_up: GiveUpHook[E] | None = None


class _Next(Enum):
    """What the loop does after a record."""

    TAKE = "take the next record"
    RETRY_LATER = "back off, then take the same record again"
    LEAVE = "leave (handed back at shutdown)"


@dataclass
class _InFlight:
    """The record in hand: the rebalance listener looks at it when partitions are revoked."""

    partition: TopicPartition
    offset: int
    task: asyncio.Task[bool]
    #: Set once the loop is done with the record (committed, skipped or handed back).
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    #: Its partition was revoked before it settled: it must not be committed.
    revoked: bool = False
    #: Revoked mid-record by a rebalance whose new assignment is not known yet: the record carries on
    #: if its partition comes back to this member, and is cancelled if it went to another.
    in_doubt: bool = False
    decided: asyncio.Event = field(default_factory=asyncio.Event)
    #: A rebalance revoked its partition while it was in hand. If the partition came back, its
    #: position is its committed offset again, i.e. this record's.
    rebalanced: bool = False


class _RevokeInFlight(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka awaits `on_partitions_revoked` before the member rejoins its group."""

    def __init__(self, consumer: EventConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        await self._consumer._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        log.info("assigned %s", ", ".join(sorted(map(_tp, assigned))) or "nothing")
        await self._consumer._on_assigned(set(assigned))


class EventConsumer:
    """Consumes catalogue topics in one consumer group, feeding each event to its topic's handler.

    One consumer for several topics is one member of the group with one fetch loop and one
    heartbeat (issue #18: each consumer an idle service runs costs the broker two fetches a second):
    its topics' records are handled one at a time, in one loop, so a slow handler holds up the
    others' records. Topics whose handling must not wait on each other get consumers of their own.
    """

    def __init__(
        self,
        *routes: Route[Any],
        group_id: str,
        settings: KafkaSettings,
        producer: EventProducer,
        client_id: str,
        retry: RetryPolicy | None = None,
        shutdown_grace_s: float = 30.0,
        poll_while_busy_s: float = 1.0,
        revoke_grace_s: float = 3.0,
        commit_every_s: float = 0.0,
    ) -> None:
        """`revoke_grace_s` must stay well below the rebalance timeout (aiokafka: the session timeout),
        or the member misses the rebalance it is preparing for.

        `commit_every_s` > 0: offsets are committed at most that often (the last ones at the first
        idle poll after the interval, when a partition is revoked or when the loop stops) instead
        of after every record: one request to the broker per interval rather than per record. Only
        for handlers whose redelivery after a crash costs nothing (views fed from the topic); a
        crash redelivers up to that long's records."""
        if not routes or len({route.topic.name for route in routes}) < len(routes):
            raise ValueError("an EventConsumer needs one route per topic, and at least one")
        self._routes = {route.topic.name: route for route in routes}
        self._group_id = group_id
        self._producer = producer
        self._retry = retry or RetryPolicy()
        self._shutdown_grace_s = shutdown_grace_s
        self._poll_while_busy_s = poll_while_busy_s
        self._commit_every_s = commit_every_s
        #: Offsets handled but not yet committed (commit_every_s > 0), and when they are due.
        self._deferred: dict[TopicPartition, int] = {}
        self._commit_due = 0.0
        self._revoke_grace_s = revoke_grace_s
        #: How long a record finished mid-rebalance waits to learn whether it may be committed.
        self._rebalance_wait_s = settings.session_timeout_ms / 1000
        self._stopping = asyncio.Event()
        self._in_flight: _InFlight | None = None
        #: True while the record in hand waits for the infrastructure to come back.
        self.waiting_on_infrastructure = False
        #: Tries that met an infrastructure outage since the start (each retried, none dead-lettered).
        self.infrastructure_retries = 0
        self._close_timeout_s = settings.close_timeout_s
        self._commit_timeout_s = settings.request_timeout_ms / 1000
        self._consumer = kafka_consumer(
            settings,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            # How often an idle loop asks the broker (see KafkaSettings.idle_fetch_wait_ms).
            fetch_max_wait_ms=settings.idle_fetch_wait_ms,
        )
        self._idle_poll_ms = settings.idle_fetch_wait_ms

    @property
    def reads(self) -> list[tuple[str, str]]:
        """(group, topic) for each topic it reads."""
        return [(self._group_id, topic) for topic in self._routes]

    def stop(self) -> None:
        """Ask the loop to finish the record in hand and return. Safe to call from a signal handler."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `stop()` is called; the consumer leaves its group on the way out."""
        self._consumer.subscribe(list(self._routes), listener=_RevokeInFlight(self))
        try:
            await unless_stopped(self._consumer.start(), self._stopping)
            if self._stopping.is_set():
                return  # stopped before the brokers answered
            log.info("consuming %s in group %s", ", ".join(self._routes), self._group_id)
            while not self._stopping.is_set():
                record = await self._next_record()
                if record is None:
                    await self._commit_deferred(when_due=True)  # idle: nothing stays uncommitted long
                    continue
                then = await self._take(record)
                if then is _Next.LEAVE:
                    return
                if then is _Next.RETRY_LATER:
                    await self._sleep_unless_stopping(self._retry.max_backoff_s)
        finally:
            if self._deferred:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._commit_deferred(), self._close_timeout_s)
            await close_within(self._consumer.stop(), self._close_timeout_s, f"consumer of {self._group_id}")
            log.info("left group %s", self._group_id)

    async def _next_record(self) -> ConsumerRecord[bytes, bytes] | None:
        """The next record, or None when none came within the idle fetch wait (or `stop()` was called).

        One record at a time, on purpose: the loop pauses every partition while it handles it and
        commits its offset before taking the next, so nothing fetched ahead can be lost or skipped.
        """
        batch = await getmany_unless_stopped(
            self._consumer, self._stopping, timeout_ms=self._idle_poll_ms, max_records=1
        )
        records = [record for partition_records in batch.values() for record in partition_records]
        if len(records) > 1:  # max_records=1 rules this out; were it to happen, rewind rather than skip
            for record in reversed(records[1:]):  # the earliest record of each partition seeks last
                self._consumer.seek(TopicPartition(record.topic, record.partition), record.offset)
        return records[0] if records else None

    async def _take(self, record: ConsumerRecord[bytes, bytes]) -> _Next:
        """Handle `record`, then commit it unless it was handed back or its partition revoked."""
        partition = TopicPartition(record.topic, record.partition)
        task = asyncio.create_task(self._handle_with_retries(record), name=f"handle {_at(record)}")
        flight = self._in_flight = _InFlight(partition, record.offset, task)
        try:
            try:
                handled = await self._process(flight)
            except Exception:
                if flight.revoked:
                    handled = True  # the next owner has it; nothing to rewind
                else:
                    # Not even the dead-letter topic took it (the broker is away?): rewind and try
                    # the same record again later, rather than lose it or stop.
                    log.exception("%s not handled; retrying it", _at(record))
                    if partition in self._consumer.assignment():
                        self._consumer.seek(partition, record.offset)
                    return _Next.RETRY_LATER
            if flight.in_doubt:
                # Finished between the revocation and the new assignment: commit only if it stays here.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(flight.decided.wait(), self._rebalance_wait_s)
                if flight.in_doubt or partition not in self._consumer.assignment():
                    flight.revoked = True
            if flight.revoked:
                log.warning(
                    "not committing %s: its partition was revoked while it was handled; its next owner "
                    "handles it again",
                    _at(record),
                )
                return _Next.TAKE
            if not handled:
                return _Next.LEAVE  # handed back unfinished at shutdown: not committed
            await self._commit_or_defer(partition, record.offset + 1)
            if flight.rebalanced and partition in self._consumer.assignment():
                # A partition that came back mid-record restarts from its committed offset: move
                # past the record just committed, so it is not taken twice. Only then: a seek drops
                # the records fetched ahead for the partition, and fetching them again waits for the
                # fetch in flight to the broker (up to the fetch wait; issue #18).
                self._consumer.seek(partition, record.offset + 1)
            return _Next.TAKE
        finally:
            self._in_flight = None
            flight.settled.set()

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        """A rebalance takes `revoked` away. The record in hand may finish within the grace; if not, it
        carries on in doubt until the new assignment says whether its partition stays here (an eager
        rebalance revokes every partition whenever any member joins or leaves, and most come back)."""
        if self._deferred:
            # Commit what was handled on the partitions leaving, while they are still ours.
            await self._commit_deferred(revoked)
        flight = self._in_flight
        if flight is None or flight.partition not in revoked:
            return
        flight.rebalanced = True
        log.info(
            "%s revoked with a record in hand: up to %.1f s to finish it",
            _tp(flight.partition),
            self._revoke_grace_s,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(flight.settled.wait(), self._revoke_grace_s)
        if flight.settled.is_set():
            return
        flight.in_doubt = True
        flight.decided.clear()
        log.info(
            "%s: offset %d still in hand; waiting for the new assignment",
            _tp(flight.partition),
            flight.offset,
        )

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Settle a record left in doubt by the revocation: keep it if its partition came back,
        otherwise cancel it (its next owner handles it) and never commit it here."""
        flight = self._in_flight
        if flight is None or not flight.in_doubt:
            return
        flight.in_doubt = False
        try:
            if flight.partition in assigned:
                log.info(
                    "%s came back to this member: offset %d carries on", _tp(flight.partition), flight.offset
                )
                return
            flight.revoked = True
            flight.task.cancel()
            log.warning(
                "%s moved to another member mid-record: handler of offset %d cancelled, the offset is "
                "not committed",
                _tp(flight.partition),
                flight.offset,
            )
            # Let the cancelled attempt unwind before the new owner gets far, so that it does
            # nothing beside the next owner's attempt.
            await asyncio.wait({flight.task}, timeout=self._revoke_grace_s)
        finally:
            flight.decided.set()

    async def _process(self, flight: _InFlight) -> bool:
        """Handle one record to completion (done or dead-lettered). False if handed back."""
        task = flight.task
        stop_wait = asyncio.create_task(self._stopping.wait())
        try:
            while not task.done():
                await asyncio.wait(
                    {task, stop_wait},
                    timeout=self._poll_while_busy_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if task.done():
                    break
                if self._stopping.is_set():
                    return await self._finish_or_hand_back(flight)
                await self._poll_paused()
            if flight.revoked and task.cancelled():
                return True  # the caller sees `revoked` and commits nothing
            return task.result()
        finally:
            stop_wait.cancel()
            self._consumer.resume(*self._consumer.paused())

    async def _finish_or_hand_back(self, flight: _InFlight) -> bool:
        task = flight.task
        log.info("stopping: finishing the message in hand (up to %.0f s)", self._shutdown_grace_s)
        deadline = asyncio.get_running_loop().time() + self._shutdown_grace_s
        while not task.done() and asyncio.get_running_loop().time() < deadline:
            await asyncio.wait({task}, timeout=self._poll_while_busy_s)
            if not task.done():
                await self._poll_paused()
        if task.done():
            return True if flight.revoked and task.cancelled() else task.result()
        task.cancel()
        log.warning("grace period over: handing the message back uncommitted")
        return False

    async def _poll_paused(self) -> None:
        """Poll with all partitions paused: proves liveness to the group without taking work."""
        self._consumer.pause(*self._consumer.assignment())
        stray = await self._consumer.getmany(timeout_ms=0)
        # Records fetched for a partition assigned since the pause are rewound, not lost.
        for partition, records in stray.items():
            self._consumer.seek(partition, records[0].offset)

    async def _handle_with_retries(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        """Handled or dead-lettered: True. False when `stop()` came while the infrastructure was away
        (the record is handed back uncommitted)."""
        route = self._routes[record.topic]
        try:
            event = route.topic.event_type.model_validate_json(record.value or b"")
        except ValidationError as error:
            reason = f"invalid {route.topic.event_type.__name__}: {describe_validation_error(error)}"
            await self._dead_letter(record, reason, attempts=1)
            return True
        key = _decode_key(record.key)
        failures = outages = attempt = 0
        with correlation_scope(event.correlation_id):
            try:
                while True:
                    attempt += 1
                    delivery = Delivery(record.topic, record.partition, record.offset, key, attempt)
                    try:
                        await route.handler(event, delivery)
                        if outages:
                            log.warning(
                                "infrastructure back after %d tries: %s handled", outages, _at(record)
                            )
                        return True
                    except PermanentError as error:
                        failures += 1
                        reason = str(error)
                        break
                    except Exception as error:
                        if is_infrastructure_failure(error):
                            outages += 1
                            if not await self._wait_for_infrastructure(record, outages, error):
                                return False
                            continue
                        self.waiting_on_infrastructure = False
                        failures += 1
                        reason = f"{type(error).__name__}: {error}"
                        log.warning(
                            "attempt %d/%d failed: %s",
                            failures,
                            self._retry.max_attempts,
                            reason,
                            exc_info=True,
                        )
                        if failures < self._retry.max_attempts:
                            await asyncio.sleep(self._retry.backoff(failures))
                            continue
                        break
            finally:
                self.waiting_on_infrastructure = False
            await self._dead_letter(record, reason, failures, event.correlation_id)
            if route.on_give_up is not None:
                await route.on_give_up(event, reason)
            return True

    async def _wait_for_infrastructure(
        self, record: ConsumerRecord[bytes, bytes], outages: int, error: Exception
    ) -> bool:
        """Back off after an outage (partitions stay paused, the loop keeps polling); False if stopping."""
        self.waiting_on_infrastructure = True
        self.infrastructure_retries += 1
        wait_s = self._retry.outage_backoff(outages)
        log.warning(
            "infrastructure unavailable for %s (try %d, again in %.1f s; never dead-lettered): %s: %s",
            _at(record),
            outages,
            wait_s,
            type(error).__name__,
            error,
        )
        await self._sleep_unless_stopping(wait_s)
        if self._stopping.is_set():
            log.warning("stopping during an outage: handing %s back uncommitted", _at(record))
            return False
        return True

    async def _dead_letter(
        self,
        record: ConsumerRecord[bytes, bytes],
        reason: str,
        attempts: int,
        correlation_id: str | None = None,
    ) -> None:
        log.error("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
        letter = dead_letter(
            record, reason, attempts=attempts, consumer_group=self._group_id, correlation_id=correlation_id
        )
        await self._producer.publish(DEAD_LETTERS, letter)

    async def _commit_or_defer(self, partition: TopicPartition, next_offset: int) -> None:
        if self._commit_every_s <= 0:
            await self._commit({partition: next_offset})
            return
        self._deferred[partition] = next_offset
        if asyncio.get_running_loop().time() >= self._commit_due:
            await self._commit_deferred()

    async def _commit_deferred(
        self, partitions: set[TopicPartition] | None = None, when_due: bool = False
    ) -> None:
        """Commit the deferred offsets (of `partitions` only, when given) in one request; `when_due`:
        only if the interval has passed."""
        if when_due and asyncio.get_running_loop().time() < self._commit_due:
            return
        due = {p: o for p, o in self._deferred.items() if partitions is None or p in partitions}
        if not due:
            return
        for partition in due:
            del self._deferred[partition]
        if partitions is None:
            self._commit_due = asyncio.get_running_loop().time() + self._commit_every_s
        await self._commit(due)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit `offsets` (the next offset to read, per partition) on the partitions still ours."""
        assigned = self._consumer.assignment()
        for partition, next_offset in offsets.items():
            if partition not in assigned:
                log.warning(
                    "not committing %s@%d: the partition is no longer assigned here", partition, next_offset
                )
        offsets = {p: o for p, o in offsets.items() if p in assigned}
        if not offsets:
            return
        what = ", ".join(f"{p}@{o}" for p, o in offsets.items())
        for attempt in range(1, self._retry.max_attempts + 1):
            try:
                # A coordinator that is gone may never answer: bound each try (tighter when stopping).
                limit_s = self._close_timeout_s if self._stopping.is_set() else self._commit_timeout_s
                await asyncio.wait_for(self._consumer.commit(offsets), limit_s)
                return
            except (CommitFailedError, IllegalStateError) as error:
                # The partition moved to another member during a rebalance: it redelivers the record
                # there, and handlers are idempotent, so nothing is lost or doubled.
                log.warning("commit of %s lost to a rebalance: %s", what, error)
                return
            except (KafkaError, TimeoutError) as error:
                # The coordinator is away for a moment: try again; if it stays away, the record is
                # redelivered after the next rebalance or restart, which idempotent handlers absorb.
                log.warning("commit of %s failed (attempt %d): %r", what, attempt, error)
                if self._stopping.is_set():
                    break
                await self._sleep_unless_stopping(self._retry.backoff(attempt))
        log.error("commit of %s given up; the record may be delivered again", what)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


async def unless_stopped(work: Awaitable[T], stopping: asyncio.Event) -> T | None:
    """`work`'s result, or None as soon as `stopping` is set (then `work` is cancelled).

    While the cluster is unreachable aiokafka may wait for metadata or a group coordinator far
    longer than any timeout it was given (in `start()`, `getmany()`, offset lookups), which would
    hold up a graceful stop. Callers tell "stopped" from a None result by `stopping.is_set()`.
    """
    running = asyncio.ensure_future(work)
    stop_wait = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({running, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_wait.cancel()
    if not running.done():
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        return None
    return running.result()


async def getmany_unless_stopped(
    consumer: AIOKafkaConsumer, stopping: asyncio.Event, *, timeout_ms: int, max_records: int | None = None
) -> Batch:
    """`consumer.getmany`, but empty as soon as `stopping` is set."""
    batch = await unless_stopped(consumer.getmany(timeout_ms=timeout_ms, max_records=max_records), stopping)
    return batch or {}


def _tp(partition: TopicPartition) -> str:
    return f"{partition.topic}[{partition.partition}]"


def _at(record: ConsumerRecord[bytes, bytes]) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"


def _decode_key(key: bytes | None) -> str | None:
    return None if key is None else key.decode("utf-8", errors="replace")


def describe_validation_error(error: ValidationError) -> str:
    """One readable line: `field: problem; other: problem`."""
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
    return "; ".join(parts)
