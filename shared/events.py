"""The event catalogue: every Kafka topic of the system and the schema of its messages.

This module is the documentation of the bus. Producers pass one of these models to
`EventProducer.publish`, consumers receive one from `EventConsumer`; nobody writes a topic name or
builds a message by hand. Each model carries a `schema_version`: a consumer refuses (dead-letters)
a version it does not know instead of guessing.

Kafka carries references, never media: originals and renditions live in object storage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A compact random id for jobs, events and correlation ids."""
    return uuid4().hex


class Event(BaseModel):
    """Fields every message carries."""

    # Unknown fields are ignored so that a producer may add optional fields before consumers know them.
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: str = Field(default_factory=new_id)
    #: Follows one upload through every service, message and log line.
    correlation_id: str
    occurred_at: datetime = Field(default_factory=utc_now)


class MediaKind(StrEnum):
    IMAGE = "image"


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED)


class JobRequested(Event):
    """A user uploaded media; the original is in storage and waits to be re-encoded."""

    schema_version: Literal[1] = 1
    job_id: str
    kind: MediaKind
    #: Object key of the original in the uploads bucket.
    source_key: str
    filename: str
    content_type: str
    size_bytes: int


class Rendition(BaseModel):
    """One output file of a job, as stored in the renditions bucket."""

    model_config = ConfigDict(frozen=True)

    name: str
    content_type: str
    width: int
    height: int
    bytes: int
    #: Object key in the renditions bucket.
    key: str


class JobStatusChanged(Event):
    """A worker's report on a job: started, progressed, finished or failed."""

    schema_version: Literal[1] = 1
    job_id: str
    status: JobStatus
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    error: str | None = None
    renditions: tuple[Rendition, ...] = ()
    worker_id: str


class DeadLetter(Event):
    """A message a consumer could not handle after its retries; kept whole so it can be replayed."""

    schema_version: Literal[1] = 1
    source_topic: str
    partition: int
    offset: int
    key: str | None
    #: The original message value, decoded as UTF-8 (undecodable bytes replaced).
    payload: str
    reason: str
    attempts: int
    consumer_group: str


class ServiceHeartbeat(Event):
    """A running service instance saying it is alive, and what it does."""

    schema_version: Literal[1] = 1
    service: str
    instance_id: str
    host: str
    started_at: datetime
    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()


E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Topic(Generic[E]):
    """A topic, the model of its messages and how messages are keyed (which sets their order)."""

    name: str
    event_type: type[E]
    partitions: int
    key: Callable[[E], str]
    description: str


def _by_job(event: JobRequested | JobStatusChanged) -> str:
    return event.job_id


# Partition counts bound how many consumers of one group can work at once (idle beyond that):
# 6 lets six workers share the job stream, which is more than the compose stack shows by default.
JOBS_REQUESTED: Topic[JobRequested] = Topic(
    name="jobs.requested",
    event_type=JobRequested,
    partitions=6,
    key=_by_job,
    description="Uploads waiting to be re-encoded (frontend -> reencoder).",
)
JOBS_STATUS: Topic[JobStatusChanged] = Topic(
    name="jobs.status",
    event_type=JobStatusChanged,
    partitions=6,
    key=_by_job,
    description="Progress and outcome of each job (reencoder -> frontend, metrics, monitoring).",
)
DEAD_LETTERS: Topic[DeadLetter] = Topic(
    name="dead-letters",
    event_type=DeadLetter,
    partitions=1,
    key=lambda event: event.source_topic,
    description="Messages any consumer gave up on, with the reason (any service -> monitoring).",
)
SERVICE_HEARTBEATS: Topic[ServiceHeartbeat] = Topic(
    name="services.heartbeats",
    event_type=ServiceHeartbeat,
    partitions=1,
    key=lambda event: event.instance_id,
    description="Liveness of every service instance (all services -> monitoring).",
)

ALL_TOPICS: tuple[Topic[Any], ...] = (
    JOBS_REQUESTED,
    JOBS_STATUS,
    DEAD_LETTERS,
    SERVICE_HEARTBEATS,
)
