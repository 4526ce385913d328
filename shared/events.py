"""The event catalogue: every Kafka topic of the system and the schema of its messages.

This module is the documentation of the bus. Producers pass one of these models to
`EventProducer.publish`, consumers receive one from `EventConsumer`; nobody writes a topic name or
builds a message by hand. Each model carries a `schema_version`: a consumer refuses (dead-letters)
a version it does not know instead of guessing.

Kafka carries references, never media: originals and renditions live in object storage.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    VIDEO = "video"


class JobStatus(StrEnum):
    #: Created by a direct upload (POST /api/uploads/multipart): its bytes are still on their way
    #: to storage; the stored object (or the client's `complete`) queues it.
    UPLOADING = "uploading"
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
    #: The uploader's account (None only for uploads made before accounts existed).
    user_id: str | None = None


class MediaDeleted(Event):
    """A user deleted an upload: its original, renditions and rows are gone."""

    schema_version: Literal[1] = 1
    job_id: str
    user_id: str
    #: How many stored objects were removed with it.
    objects_removed: int


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
    #: Videos: when the HLS master playlist became playable (the first chunk of every rung stored),
    #: announced once while the job still runs; None until then and for images.
    playable_at: datetime | None = None


class DeadLetter(Event):
    """A message a consumer could not handle after its retries; kept so it can be replayed.

    Built by `shared.kafka.dead_letters.dead_letter`, which keeps every letter small enough to publish.
    """

    schema_version: Literal[1] = 1
    source_topic: str
    partition: int
    offset: int
    key: str | None
    #: The original message value, as `payload_encoding` says: "base64" of its bytes, or (letters
    #: written before base64) "utf-8" text with undecodable bytes replaced.
    payload: str
    reason: str
    attempts: int
    consumer_group: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    #: The original value's size in bytes and sha256 (hex); None in letters written before.
    payload_size: int | None = None
    payload_sha256: str | None = None
    #: Only the first bytes of a large value are kept: such a letter cannot be replayed.
    payload_truncated: bool = False

    def payload_bytes(self) -> bytes:
        """The original value's bytes (only their beginning when `payload_truncated`)."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode()


class ServiceLoad(BaseModel):
    """How busy a process is, as measured by the process itself when it sends a heartbeat."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    #: CPU time used since the previous heartbeat, as a percentage of one core.
    cpu_percent: float = 0.0
    memory_rss_bytes: int = 0
    #: The host's one-minute load average (0 where the platform has none).
    host_load_1m: float = 0.0
    #: Asyncio tasks alive in the process: a rough measure of work in hand.
    tasks: int = 0


class InstanceState(StrEnum):
    RUNNING = "running"
    #: The farewell beat of an instance that shuts down on purpose (stopped or scaled away).
    STOPPING = "stopping"


class ServiceHeartbeat(Event):
    """A running service instance saying it is alive, and what it does."""

    schema_version: Literal[1] = 1
    service: str
    instance_id: str
    host: str
    started_at: datetime
    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    # Added later with defaults, so older beats still validate (schema version 1 either way).
    version: str = "unknown"
    state: InstanceState = InstanceState.RUNNING
    load: ServiceLoad = Field(default_factory=ServiceLoad)


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(LogLevel).index(self)


class LogRecord(Event):
    """One structured log line of a service, as it also appears in the service's JSON log."""

    schema_version: Literal[1] = 1
    service: str
    instance_id: str
    level: LogLevel
    logger: str
    message: str
    #: True when the line had no correlation id; `correlation_id` is then a fresh one.
    uncorrelated: bool = False


class AlertSeverity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class AlertState(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"


class Alert(Event):
    """Monitoring found something wrong (raised) or found it fixed (cleared)."""

    schema_version: Literal[1] = 1
    #: Stable id of the condition, e.g. `kafka.under_replicated:jobs.status/3`; raise and clear share it.
    key: str
    #: What part of the system: services, kafka, database or storage.
    source: str
    severity: AlertSeverity
    state: AlertState
    message: str
    raised_at: datetime
    cleared_at: datetime | None = None


class ActivityKind(StrEnum):
    REGISTERED = "registered"
    LOGGED_IN = "logged_in"
    LOGIN_FAILED = "login_failed"
    UPLOADED = "uploaded"
    VIEWED = "viewed"
    CLICKED = "clicked"
    DELETED = "deleted"


class UserActivity(Event):
    """Something a user did on the site (the design's activity monitoring)."""

    schema_version: Literal[1] = 1
    kind: ActivityKind
    #: None for visitors who are not signed in.
    user_id: str | None = None
    #: What the action was about: a job id, a rendition, a page.
    subject: str | None = None
    #: The HTTP request that did it, e.g. `GET /api/jobs/{id}`.
    request: str | None = None
    instance_id: str | None = None


class VideoTaskKind(StrEnum):
    #: One MP4 of the ladder, plus its HLS variant playlist and segments.
    RENDITION = "rendition"
    #: The poster frame and the sprite of thumbnails.
    PREVIEW = "preview"
    #: One stretch of the timeline encoded for every rung at once (one decode), as CMAF segments.
    CHUNK = "chunk"
    #: The whole audio track, once, as the HLS audio rendition.
    AUDIO = "audio"
    #: One rung's MP4 download, put together from the chunks' segments without re-encoding.
    ASSEMBLE = "assemble"


class VideoOutput(BaseModel):
    """What one video task is asked to make (rendition tasks carry the size and bitrates)."""

    model_config = ConfigDict(frozen=True)

    name: str
    width: int
    height: int
    video_kbps: int = 0
    audio_kbps: int = 0
    #: The video codec of a rung: H.264, or AV1 for the optional AV1 variant of the top rung.
    codec: Literal["h264", "av1"] = "h264"


class VideoTaskRequested(Event):
    """One unit of a video job (a rendition or the previews); any worker may take it."""

    schema_version: Literal[1] = 1
    job_id: str
    task_id: str
    kind: VideoTaskKind
    output: VideoOutput
    source_key: str
    #: Probed once by the planner, so workers need not guess (seconds; audio present or not).
    duration_s: float
    frame_rate: float = 0.0
    has_audio: bool
    #: This task's share of the job's work (the shares of a job add up to 1), for job progress.
    weight: float = Field(gt=0.0, le=1.0)
    #: Chosen by the planner so that a job's tasks land on different partitions (different workers).
    partition_key: str
    #: Chunk tasks: where the chunk starts and how long it is (seconds), every rung it is encoded
    #: to, its number, the HLS segment length and the number of its first segment.
    start_s: float = 0.0
    length_s: float = 0.0
    outputs: tuple[VideoOutput, ...] = ()
    chunk: int = 0
    segment_s: float = 0.0
    first_segment: int = 0


class VideoTaskProgress(Event):
    """How far one running video task is (at most about one per second per task)."""

    schema_version: Literal[1] = 1
    job_id: str
    task_id: str
    weight: float
    fraction: float = Field(ge=0.0, le=1.0)
    worker_id: str


class VideoTaskFinished(Event):
    """A video task is done (its outputs and done-marker are stored) or failed with a reason."""

    schema_version: Literal[1] = 1
    job_id: str
    task_id: str
    ok: bool
    error: str | None = None
    worker_id: str


# --- Metrics: what web servers measure, and what the metrics service makes of it -----------------------
# Workers time their own work (`WorkTimed` on metrics.work); job timings derived from jobs.requested and
# jobs.status remain the fallback for windows in which no worker reported a timing.


class RequestObserved(Event):
    """One HTTP request a web server answered. `route` is the template (`/api/jobs/{job_id}`), never
    the raw path, so figures group by route and the number of series stays small."""

    schema_version: Literal[1] = 1
    service: str
    instance_id: str
    method: str
    route: str
    status: int = Field(ge=100, le=599)
    latency_ms: float = Field(ge=0.0)
    bytes_out: int = Field(default=0, ge=0)
    #: None for visitors who are not signed in (accounts come later).
    user_id: str | None = None


class LinkClicked(Event):
    """A tracked link or button on a page was clicked (the page reports it to `POST /api/clicks`)."""

    schema_version: Literal[1] = 1
    link: str = Field(min_length=1, max_length=300)
    page: str = Field(default="", max_length=300)
    instance_id: str
    user_id: str | None = None


class PlaybackReported(Event):
    """A viewer's player reported on one playing of a video (`POST /api/playback`): what happened
    since its previous beacon, so that beacons add up in any window.

    A playing session sends one beacon with `first` when it starts loading, then one at the first frame
    (with `startup_ms`), every so often while watching, and one when the page goes away."""

    schema_version: Literal[1] = 1
    job_id: str = Field(min_length=1, max_length=64)
    #: One page's playing of one video (made up by the page).
    session_id: str = Field(min_length=1, max_length=64)
    #: True on a session's first beacon: the session counts once.
    first: bool = False
    #: Load to first frame, in the beacon that saw it (once per session).
    startup_ms: float | None = Field(default=None, ge=0.0)
    rebuffers: int = Field(default=0, ge=0)
    rebuffer_s: float = Field(default=0.0, ge=0.0)
    watched_s: float = Field(default=0.0, ge=0.0)
    #: Fatal player errors (the video stopped).
    errors: int = Field(default=0, ge=0)
    #: Rendition switches the player made.
    switches: int = Field(default=0, ge=0)
    #: The rendition playing when the beacon was sent (e.g. `720p`), "" if unknown.
    rendition: str = Field(default="", max_length=40)
    #: Whether a signed-in viewer sent it (share-link viewers are anonymous).
    signed_in: bool = False
    instance_id: str


class WorkKind(StrEnum):
    IMAGE = "image"
    VIDEO_RENDITION = "video_rendition"
    VIDEO_PREVIEW = "video_preview"


class WorkOutcome(StrEnum):
    DONE = "done"
    FAILED = "failed"


class WorkTimed(Event):
    """How long one piece of a worker's work took, phase by phase: an image job, or one video task.

    Sent once when the work ends (done or failed). Phases are measured with a monotonic clock; only the
    queue wait compares wall clocks (the request's `occurred_at` with the start of work)."""

    schema_version: Literal[1] = 1
    job_id: str
    #: None for image jobs (a whole job is one piece of work).
    task_id: str | None = None
    kind: WorkKind
    worker_id: str
    outcome: WorkOutcome
    queue_wait_s: float = Field(ge=0.0)
    download_s: float = Field(default=0.0, ge=0.0)
    encode_s: float = Field(default=0.0, ge=0.0)
    upload_s: float = Field(default=0.0, ge=0.0)
    #: The original as downloaded, and every object written (renditions, segments, playlists).
    bytes_in: int = Field(default=0, ge=0)
    bytes_out: int = Field(default=0, ge=0)

    @property
    def busy_s(self) -> float:
        """Seconds the worker spent on this piece of work."""
        return self.download_s + self.encode_s + self.upload_s


class Distribution(BaseModel):
    """A mergeable distribution of durations: DDSketch (protobuf, base64) with its count and sum.

    Partial snapshots of several metrics instances merge into exact counts and sketches whose
    quantiles stay within the sketch's relative accuracy.
    """

    model_config = ConfigDict(frozen=True)

    count: int = 0
    sum: float = 0.0
    sketch: str = ""


class RouteFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    method: str
    route: str
    requests: int
    #: 5xx answers: the server's fault. 4xx are counted apart (the caller's fault).
    errors: int
    client_errors: int
    bytes_out: int
    latency_ms: Distribution


class WorkerFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    worker_id: str
    jobs: int
    #: Seconds spent encoding inside the window (utilisation = busy_s / span).
    busy_s: float


class WorkerTimings(BaseModel):
    """One worker's timed work inside a window (from `WorkTimed`)."""

    model_config = ConfigDict(frozen=True)

    worker_id: str
    #: Image jobs and video tasks timed.
    units: int
    busy_s: float
    encode_s: float
    bytes_in: int
    bytes_out: int


class WorkTimings(BaseModel):
    """What the workers' own timing events say about one window (empty when no worker reported)."""

    model_config = ConfigDict(frozen=True)

    units: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    download_s: float = 0.0
    upload_s: float = 0.0
    queue_wait_s: Distribution = Field(default_factory=Distribution)
    encode_s: Distribution = Field(default_factory=Distribution)
    workers: tuple[WorkerTimings, ...] = ()


class LinkCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    link: str
    clicks: int


class VideoPlaybackFigures(BaseModel):
    """One video's playback beacons inside a window (services/metrics/playback.py bounds how many)."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    beacons: int = 0
    #: Sessions started (beacons with `first`).
    sessions: int = 0
    startup_ms: Distribution = Field(default_factory=Distribution)
    rebuffers: int = 0
    rebuffer_s: float = 0.0
    watched_s: float = 0.0
    errors: int = 0
    switches: int = 0


class PlaybackFigures(BaseModel):
    """Viewers' playback beacons inside a window (empty when nobody watched)."""

    model_config = ConfigDict(frozen=True)

    beacons: int = 0
    #: Sessions started (beacons with `first`).
    sessions: int = 0
    startup_ms: Distribution = Field(default_factory=Distribution)
    rebuffers: int = 0
    rebuffer_s: float = 0.0
    watched_s: float = 0.0
    errors: int = 0
    switches: int = 0
    #: The most watched videos' own figures (at most `playback.MAX_VIDEOS`; older snapshots: none).
    videos: tuple[VideoPlaybackFigures, ...] = ()


class WindowFigures(BaseModel):
    """Everything one metrics instance saw in the last `span_s` seconds, on its partitions."""

    model_config = ConfigDict(frozen=True)

    span_s: int
    routes: tuple[RouteFigures, ...] = ()
    clicks: tuple[LinkCount, ...] = ()
    uploads: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    queue_wait_s: Distribution = Field(default_factory=Distribution)
    encode_s: Distribution = Field(default_factory=Distribution)
    workers: tuple[WorkerFigures, ...] = ()
    #: Added later with a default, so older snapshots still validate.
    work: WorkTimings = Field(default_factory=WorkTimings)
    #: Added later with a default, so older snapshots still validate.
    playback: PlaybackFigures = Field(default_factory=PlaybackFigures)


class MetricsSnapshot(Event):
    """The rolling windows of one metrics instance (its share of the partitions), every few seconds.

    Every instance reads every snapshot and merges the latest of each live instance: that is the
    site-wide view it serves and judges alerts on.
    """

    schema_version: Literal[1] = 1
    instance_id: str
    #: `topic/partition` this instance owned when it took the snapshot.
    partitions: tuple[str, ...] = ()
    windows: tuple[WindowFigures, ...] = ()
    #: Jobs waiting or being encoded now, among the jobs on this instance's partitions.
    jobs_queued: int = 0
    jobs_processing: int = 0


class StorageNotification(Event):
    """MinIO's bucket notification (its JSON, not ours): an object was written or removed.

    MinIO publishes these itself (docker-compose.yml: MINIO_NOTIFY_KAFKA_*, `mc event add`);
    operators and the Kafka UI show them. The envelope fields get defaults: MinIO knows no
    correlation id.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    correlation_id: str = ""
    #: e.g. `s3:ObjectCreated:Put`.
    event_name: str = Field(alias="EventName")
    #: `bucket/object-key`.
    key: str = Field(alias="Key")
    records: tuple[dict[str, Any], ...] = Field(default=(), alias="Records")


class WebhookDelivery(Event):
    """One webhook message due at one endpoint: its first try, a retry, or its owner's redelivery.

    The body travels whole (a few KB of the job's facts, never media), so every try sends the same
    bytes under the same `webhook_id` and receivers can deduplicate; the endpoint's URL and secret
    are read at each try, so a rotated secret or a deleted endpoint takes effect at once.
    """

    schema_version: Literal[1] = 1
    endpoint_id: str
    #: The Standard Webhooks `webhook-id`: one per message and endpoint, the same at every try.
    webhook_id: str
    #: `job.done`, `job.failed` or `media.deleted`.
    event_type: str
    #: The `jobs.status` or `media.deleted` event the message tells of.
    source_event_id: str
    #: The JSON body, exactly as signed and sent.
    body: str = Field(max_length=256 * 1024)
    #: This try's number at this endpoint, 1-based (a redelivery goes on counting).
    attempt: int = Field(default=1, ge=1)
    #: Retry topics this message went through so far (0: a first try or a redelivery).
    stage: int = Field(default=0, ge=0)
    #: Not before: a retry topic's consumer holds the message (its partition paused) until then.
    due_at: datetime = Field(default_factory=utc_now)


class StorageApiCall(BaseModel):
    """The S3 call of a MinIO audit entry (its `api` object)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    #: e.g. `PutObject`, `GetObject`, `ListObjectsV2`.
    name: str = ""
    bucket: str = ""
    object: str = ""
    status_code: int = Field(default=0, alias="statusCode")
    rx: int = 0
    tx: int = 0
    #: MinIO's duration text, e.g. `1.2ms`.
    time_to_response: str = Field(default="", alias="timeToResponse")


class StorageAuditEntry(Event):
    """MinIO's audit log entry (its JSON, not ours): one storage API call, published by MinIO's
    Kafka audit target (`audit_kafka`: infra/local/storage_events.py, compose's storage-init).
    Request and response headers are not kept: they carry signatures. The correlation id is the
    caller's `X-Correlation-Id` header when it sent one."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    correlation_id: str = ""
    # Required, unlike the rest: a record without them is not an audit entry, and is dead-lettered.
    occurred_at: datetime = Field(alias="time")
    api: StorageApiCall
    remote_host: str = Field(default="", alias="remotehost")
    request_id: str = Field(default="", alias="requestID")
    user_agent: str = Field(default="", alias="userAgent")
    access_key: str = Field(default="", alias="accessKey")
    error: str = ""

    @model_validator(mode="before")
    @classmethod
    def _correlation_from_headers(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("correlation_id"):
            headers = data.get("requestHeader") or {}
            sent = headers.get("X-Correlation-Id", "") if isinstance(headers, dict) else ""
            data = {**data, "correlation_id": sent}
        return data


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
MEDIA_DELETED: Topic[MediaDeleted] = Topic(
    name="media.deleted",
    event_type=MediaDeleted,
    partitions=3,
    key=lambda event: event.job_id,
    description="Uploads their owners deleted (frontend -> metrics, monitoring, anyone caching media).",
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

LOGS: Topic[LogRecord] = Topic(
    name="logs",
    event_type=LogRecord,
    partitions=3,
    # By service, so one service's lines stay in order.
    key=lambda event: event.service,
    description="Structured log lines of every service (all services -> monitoring).",
)
ALERTS: Topic[Alert] = Topic(
    name="alerts",
    event_type=Alert,
    partitions=1,
    key=lambda event: event.key,
    description="Alerts raised and cleared by monitoring (monitoring -> operators' tools).",
)
USER_ACTIVITY: Topic[UserActivity] = Topic(
    name="users.activity",
    event_type=UserActivity,
    partitions=3,
    # By user, so one user's timeline stays in order; visitors share one key.
    key=lambda event: event.user_id or "anonymous",
    description="What users do on the site: uploads, views, logins (frontend -> monitoring).",
)

# Video jobs fan out: the planner publishes one task per rendition, keyed to spread them over
# partitions (12 lets up to twelve workers share one long video); results and progress are keyed by job
# so one consumer sees a job's events in order.
VIDEO_TASKS: Topic[VideoTaskRequested] = Topic(
    name="video.tasks",
    event_type=VideoTaskRequested,
    partitions=12,
    key=lambda event: event.partition_key,
    description="Video renditions and previews to encode (reencoder planner -> reencoder workers).",
)
VIDEO_TASKS_FINISHED: Topic[VideoTaskFinished] = Topic(
    name="video.tasks.finished",
    event_type=VideoTaskFinished,
    partitions=6,
    key=lambda event: event.job_id,
    description="Video tasks done or failed (reencoder workers -> reencoder job completion).",
)
VIDEO_PROGRESS: Topic[VideoTaskProgress] = Topic(
    name="video.progress",
    event_type=VideoTaskProgress,
    partitions=6,
    key=lambda event: event.job_id,
    description="Encoding progress of video tasks, about once a second (reencoder -> frontend).",
)

# Metric topics. Requests are keyed by event id (spread evenly: the metrics service merges
# sketches, so no route needs to stay on one partition); clicks by link, so one instance counts a link.
METRICS_REQUESTS: Topic[RequestObserved] = Topic(
    name="metrics.requests",
    event_type=RequestObserved,
    partitions=6,
    key=lambda event: event.event_id,
    description="Every HTTP request a web server answered (frontend -> metrics).",
)
METRICS_CLICKS: Topic[LinkClicked] = Topic(
    name="metrics.clicks",
    event_type=LinkClicked,
    partitions=3,
    key=lambda event: event.link,
    description="Tracked link clicks reported by pages (frontend -> metrics).",
)
METRICS_SNAPSHOTS: Topic[MetricsSnapshot] = Topic(
    name="metrics.snapshots",
    event_type=MetricsSnapshot,
    partitions=1,
    key=lambda event: event.instance_id,
    description="Rolling-window aggregates of each metrics instance (metrics -> metrics, dashboards).",
)
# Keyed by job id, not worker id: with 6 partitions like jobs.requested and jobs.status, a job's timings
# land on the partition index of its request and reports, which the metrics group's range assignment
# gives to one instance (so that instance sees a job whole). Worker ids would also put all of one busy
# worker's events on one partition, and one instance.
METRICS_WORK: Topic[WorkTimed] = Topic(
    name="metrics.work",
    event_type=WorkTimed,
    partitions=6,
    key=lambda event: event.job_id,
    description="Phase timings and bytes of each image job and video task (reencoder -> metrics).",
)
# Keyed by job id: one video's beacons stay in order on one partition.
PLAYBACK_EVENTS: Topic[PlaybackReported] = Topic(
    name="playback.events",
    event_type=PlaybackReported,
    partitions=3,
    key=lambda event: event.job_id,
    description="Viewers' playback beacons: startup time, stalls, errors, watch time (frontend -> metrics).",
)
STORAGE_EVENTS: Topic[StorageNotification] = Topic(
    name="storage.events",
    event_type=StorageNotification,
    partitions=1,
    key=lambda event: event.key,
    description="Bucket notifications MinIO publishes on every stored original (MinIO -> operators).",
)

# Webhooks: the first try of every message, then one topic per retry delay (a topic's records are due
# in the order they were written, so its consumer only ever waits for the record at a partition's head).
# Keyed by endpoint, so one endpoint's messages keep their order.
WEBHOOK_DELIVERIES: Topic[WebhookDelivery] = Topic(
    name="webhooks.deliveries",
    event_type=WebhookDelivery,
    partitions=6,
    key=lambda event: event.endpoint_id,
    description="Webhook messages to send now: first tries, redeliveries (webhooks, frontend -> webhooks).",
)
WEBHOOK_RETRIES: tuple[Topic[WebhookDelivery], ...] = tuple(
    Topic(
        name=f"webhooks.retry.{stage}",
        event_type=WebhookDelivery,
        partitions=3,
        key=lambda event: event.endpoint_id,
        description=f"Webhook messages whose try {stage} failed, held until due (webhooks -> webhooks).",
    )
    for stage in (1, 2, 3, 4)
)

STORAGE_AUDIT: Topic[StorageAuditEntry] = Topic(
    name="storage.audit",
    event_type=StorageAuditEntry,
    partitions=1,
    key=lambda event: event.request_id,
    description="MinIO's audit log: every storage API call (MinIO -> monitoring's log view).",
)

ALL_TOPICS: tuple[Topic[Any], ...] = (
    WEBHOOK_DELIVERIES,
    *WEBHOOK_RETRIES,
    JOBS_REQUESTED,
    JOBS_STATUS,
    MEDIA_DELETED,
    DEAD_LETTERS,
    SERVICE_HEARTBEATS,
    LOGS,
    ALERTS,
    USER_ACTIVITY,
    VIDEO_TASKS,
    VIDEO_TASKS_FINISHED,
    VIDEO_PROGRESS,
    METRICS_REQUESTS,
    METRICS_CLICKS,
    METRICS_SNAPSHOTS,
    METRICS_WORK,
    STORAGE_EVENTS,
    PLAYBACK_EVENTS,
    STORAGE_AUDIT,
)
