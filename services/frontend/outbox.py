"""The transactional outbox: events committed with the change they announce, then published.

Writing a row and then publishing an event loses one of them when the process dies in between, and
an ambiguous timeout looks like a failure although the record arrived. So the job store
writes each job's `JobRequested` into the `outbox` table in the job's own transaction, and:

- the upload request tries to publish its record at once (low latency), bounded in time;
- a relay loop in every frontend publishes whatever is still pending: records whose request died,
  timed out or found Kafka away. A publish that fails or times out only leaves the record pending
  (it may well have arrived: workers are idempotent by job id); no job ever fails because Kafka
  was slow.

Several frontends share the table: a relay claims a batch with a conditional UPDATE (pending, and
unclaimed or its claim expired), so each record is normally published by one of them; a claim that
outlives its holder expires and another relay takes the record over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import CursorResult, Engine, and_, delete, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from shared.database import OutboxRow
from shared.events import ALL_TOPICS, E, Topic, new_id, utc_now
from shared.kafka import EventProducer

log = logging.getLogger(__name__)

_TOPICS: dict[str, Topic[Any]] = {topic.name: topic for topic in ALL_TOPICS}


class OutboxSettings(BaseSettings):
    """How the outbox relay publishes pending records (OUTBOX_*)."""

    model_config = SettingsConfigDict(env_prefix="OUTBOX_")

    #: How often the relay looks for pending records when nothing wakes it.
    poll_interval_s: float = 1.0
    #: Records claimed (and published in order) per round.
    batch_size: int = 100
    #: How long a claim keeps the other relays off a record; longer than a publish may take.
    claim_s: float = 60.0
    #: How long one publish may take before it counts as failed (and is simply tried again).
    publish_timeout_s: float = 10.0
    #: How long an upload waits for its own record's publish before answering 202 anyway.
    inline_publish_timeout_s: float = 5.0
    #: A record whose publish failed waits this long before the next try.
    retry_after_s: float = 2.0
    #: Sent records are kept this long (to look into), then deleted.
    keep_sent_s: float = 24 * 3600.0


def outbox_record(topic: Topic[E], event: E, job_id: str | None = None) -> OutboxRow:
    """The row that publishes `event` on `topic` once its transaction commits."""
    return OutboxRow(
        topic=topic.name,
        key=topic.key(event),
        payload=event.model_dump_json(),
        job_id=job_id,
        attempts=0,
        created_at=utc_now(),
    )


@dataclass(frozen=True)
class Claimed:
    """A pending record this relay holds until `mark_sent` or `release`."""

    id: int
    topic: str
    payload: str
    job_id: str | None
    token: str


class OutboxStore:
    """The `outbox` table: claim pending records, mark them sent, hand them back."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def claim(self, limit: int, claim_s: float, job_id: str | None = None) -> list[Claimed]:
        """Up to `limit` pending records nobody holds (oldest first), now held for `claim_s`."""
        now, token = utc_now(), new_id()
        claimable = and_(
            OutboxRow.sent_at.is_(None),
            or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
            *((OutboxRow.job_id == job_id,) if job_id is not None else ()),
        )
        with self._sessions() as session:
            ids = list(
                session.scalars(select(OutboxRow.id).where(claimable).order_by(OutboxRow.id).limit(limit))
            )
        if not ids:
            return []
        with self._sessions.begin() as session:
            # The condition again, in the UPDATE: of two relays that saw the same ids, one matches.
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids), claimable)
                .values(claimed_by=token, claimed_until=now + timedelta(seconds=claim_s))
                .execution_options(synchronize_session=False)
            )
            rows = session.execute(
                select(OutboxRow.id, OutboxRow.topic, OutboxRow.payload, OutboxRow.job_id)
                .where(OutboxRow.claimed_by == token)
                .order_by(OutboxRow.id)
            ).all()
        return [Claimed(row.id, row.topic, row.payload, row.job_id, token) for row in rows]

    def mark_sent(self, record: Claimed) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == record.id, OutboxRow.sent_at.is_(None))
                .values(sent_at=utc_now(), claimed_until=None)
                .execution_options(synchronize_session=False)
            )

    def release(self, record: Claimed, error: str | None, retry_at: datetime) -> None:
        """Hand a record back, to be tried again from `retry_at`; `error`: its publish failed."""
        values: dict[str, object] = {"claimed_until": retry_at}
        if error is not None:
            values |= {"attempts": OutboxRow.attempts + 1, "last_error": error[:2000]}
        with self._sessions.begin() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == record.id, OutboxRow.claimed_by == record.token)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def pending(self, job_id: str | None = None) -> int:
        """How many records wait to be published (of one job, when given)."""
        with self._sessions() as session:
            query = select(func.count()).select_from(OutboxRow).where(OutboxRow.sent_at.is_(None))
            if job_id is not None:
                query = query.where(OutboxRow.job_id == job_id)
            return session.scalar(query) or 0

    def purge_sent(self, before: datetime) -> int:
        """Delete records sent before `before`; returns how many."""
        with self._sessions.begin() as session:
            result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                delete(OutboxRow).where(OutboxRow.sent_at.is_not(None), OutboxRow.sent_at < before)
            )
            return int(result.rowcount or 0)


class OutboxRelay:
    """Publishes pending outbox records with the shared producer (acks=all, idempotent)."""

    def __init__(
        self,
        store: OutboxStore,
        producer: EventProducer,
        settings: OutboxSettings,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.store = store
        self._producer = producer
        self._settings = settings
        self._wake = asyncio.Event()
        registry = registry or CollectorRegistry()
        self._published = Counter(
            "reencode_outbox_published", "Outbox records Kafka acknowledged", ["topic"], registry=registry
        )
        self._failures = Counter(
            "reencode_outbox_publish_failures",
            "Outbox publishes that failed or timed out (the record stays pending and is tried again)",
            ["topic"],
            registry=registry,
        )

    def wake(self) -> None:
        """Look for pending records now rather than at the next poll."""
        self._wake.set()

    async def publish_job(self, job_id: str) -> bool:
        """The upload's own attempt at its job's pending records; True when they are all sent.

        Never raises for Kafka: what is not sent now stays in the outbox for the relay.
        """
        claimed = await asyncio.to_thread(self.store.claim, 10, self._settings.claim_s, job_id)
        return await self._publish_all(claimed, self._settings.inline_publish_timeout_s)

    async def publish_pending(self) -> int:
        """One round: claim a batch and publish it in order; returns how many were sent."""
        claimed = await asyncio.to_thread(self.store.claim, self._settings.batch_size, self._settings.claim_s)
        sent = 0
        for index, record in enumerate(claimed):
            if await self._publish(record, self._settings.publish_timeout_s):
                sent += 1
                continue
            # Kafka is likely away: hand the rest back untried, for the next round.
            for rest in claimed[index + 1 :]:
                await asyncio.to_thread(self.store.release, rest, None, self._retry_at())
            break
        return sent

    async def run(self) -> None:
        """The relay loop (one per frontend instance), until cancelled."""
        loop = asyncio.get_running_loop()
        next_purge = loop.time()
        while True:
            self._wake.clear()
            full = False
            try:
                full = await self.publish_pending() >= self._settings.batch_size
                if loop.time() >= next_purge:
                    before = utc_now() - timedelta(seconds=self._settings.keep_sent_s)
                    purged = await asyncio.to_thread(self.store.purge_sent, before)
                    if purged:
                        log.info("outbox: deleted %d records sent before %s", purged, before.isoformat())
                    next_purge = loop.time() + 3600.0
            except SQLAlchemyError as error:
                log.warning("outbox relay: the database is unavailable, trying again: %s", error)
            if full:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval_s)

    async def _publish_all(self, claimed: list[Claimed], timeout_s: float) -> bool:
        for index, record in enumerate(claimed):
            if not await self._publish(record, timeout_s):
                for rest in claimed[index + 1 :]:
                    await asyncio.to_thread(self.store.release, rest, None, self._retry_at())
                return False
        return True

    async def _publish(self, record: Claimed, timeout_s: float) -> bool:
        """Publish one claimed record; on failure it is handed back (pending) and False returned."""
        try:
            topic = _TOPICS[record.topic]
            event = topic.event_type.model_validate_json(record.payload)
        except (KeyError, ValidationError) as error:
            # Only a bug writes such a record: keep it (to look into), and try again only rarely.
            log.error("outbox record %d cannot be published (%s): %r", record.id, record.topic, error)
            retry_at = utc_now() + timedelta(seconds=self._settings.claim_s)
            await asyncio.to_thread(self.store.release, record, repr(error), retry_at)
            return False
        try:
            await asyncio.wait_for(self._producer.publish(topic, event), timeout_s)
        except (KafkaError, TimeoutError) as error:
            # Ambiguous (a timeout) or not, the record stays pending: a second copy is harmless.
            reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            log.warning(
                "outbox record %d (%s, job %s) not published yet, will try again: %s",
                record.id,
                record.topic,
                record.job_id,
                reason,
            )
            self._failures.labels(record.topic).inc()
            await asyncio.to_thread(self.store.release, record, reason, self._retry_at())
            return False
        self._published.labels(record.topic).inc()
        await asyncio.to_thread(self.store.mark_sent, record)
        return True

    def _retry_at(self) -> datetime:
        return utc_now() + timedelta(seconds=self._settings.retry_after_s)
