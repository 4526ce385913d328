"""Typed settings, one class per concern, read from environment variables once at start-up.

Every knob has a default that works for the local stack (`make run`); docker compose overrides them
through the environment. Services build the classes they need in their entry point and pass them in.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Where the local stack keeps its data (Kafka logs, objects, the SQLite file, logs).
STATE_DIR = Path(os.environ.get("REENCODE_STATE_DIR", Path(__file__).resolve().parent.parent / ".state"))


class KafkaSettings(BaseSettings):
    """How to reach the Kafka cluster and how clients behave on it."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_")

    bootstrap_servers: str = "127.0.0.1:9092"
    #: Replication factor for the topics the project creates (3 in compose, 1 for one local broker).
    replication_factor: int = 1
    #: A member that sends no heartbeat for this long is considered dead and its partitions move.
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    #: Upper bound between two polls. Long jobs keep polling with paused partitions, so this only
    #: catches a consumer whose event loop is stuck.
    max_poll_interval_ms: int = 60_000
    request_timeout_ms: int = 30_000
    #: How long the broker holds an empty fetch of a service's consumer loop before answering "nothing":
    #: how often an idle consumer asks (aiokafka's default, 500 ms, is twice a second per consumer,
    #: the stack's largest idle cost; issue #18). A record that arrives is answered at once whatever
    #: the wait, with one exception that bounds it: aiokafka keeps one fetch in flight per broker,
    #: and a partition left out of that fetch (it still held records fetched with an earlier one
    #: for over 100 ms, e.g. the second job of a burst while the first is handled) waits for it to
    #: return before its next record is fetched. Below `request_timeout_ms`.
    idle_fetch_wait_ms: int = 2000
    #: A stopping client gives up flushing, committing and leaving its group after this long, so a
    #: service stops in bounded time even when the brokers are gone (what stays unsent or uncommitted
    #: is redelivered or retried by design: at-least-once).
    close_timeout_s: float = 5.0
    #: PLAINTEXT for the loopback-only `make run`; SASL_PLAINTEXT where brokers authenticate clients
    #: (compose and `make run-full`: each service signs in as its own principal, see shared/kafka/acls.py).
    security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512"] = "SCRAM-SHA-512"
    #: The principal this process signs in as (`frontend`, `reencoder`, ..., `admin` for the CLI).
    sasl_username: str | None = None
    sasl_password: str | None = Field(default=None, repr=False)
    #: ZooKeeper's host:port where the cluster runs in ZooKeeper mode (Kafka 3.9, `make run-zookeeper`):
    #: monitoring and `reencode cluster` then show its health, controller and registrations.
    #: Empty: the cluster runs KRaft and has no ZooKeeper.
    zookeeper_connect: str = ""


class StorageSettings(BaseSettings):
    """The S3-compatible object store (MinIO) holding originals and renditions."""

    model_config = SettingsConfigDict(env_prefix="STORAGE_")

    endpoint: str = "127.0.0.1:9000"
    access_key: str = "reencode"
    secret_key: str = "reencode-secret"
    secure: bool = False
    region: str = "us-east-1"
    uploads_bucket: str = "uploads"
    renditions_bucket: str = "renditions"
    #: host:port browsers and clients reach storage at, for the URLs the site presigns for them
    #: (direct uploads' parts); empty: `endpoint` (locally MinIO's own port). In compose, storage
    #: is exposed under the site's own address.
    public_endpoint: str = ""
    #: Whether `public_endpoint` is reached over HTTPS; None: like `secure`.
    public_secure: bool | None = None

    @property
    def public_address(self) -> str:
        return self.public_endpoint or self.endpoint

    @property
    def public_is_secure(self) -> bool:
        return self.secure if self.public_secure is None else self.public_secure


class DatabaseSettings(BaseSettings):
    """The relational database: SQLite by default, PostgreSQL when DATABASE_URL points at one."""

    model_config = SettingsConfigDict(env_prefix="DATABASE_")

    url: str = Field(default_factory=lambda: f"sqlite:///{STATE_DIR / 'db' / 'reencode.sqlite'}")
    #: Connections kept open per process (and as many again under bursts); PostgreSQL only.
    pool_size: int = 5
    #: How long a request waits for a free pooled connection before failing.
    pool_timeout_s: int = 10
    connect_timeout_s: int = 10
    #: A runaway query is cancelled by the server after this long; it never holds a connection forever.
    statement_timeout_ms: int = 30_000


class MediaLimits(BaseSettings):
    """What the site accepts. Inputs over these limits are refused with a readable reason."""

    model_config = SettingsConfigDict(env_prefix="MEDIA_")

    max_upload_bytes: int = 50 * 1024 * 1024
    #: Decompression-bomb guard: images with more pixels than this are refused before decoding. Sized
    #: from the image encoder's memory budget (REENCODER_ENCODER_MEMORY_BYTES, 1.5 GiB): at most 8 bytes
    #: a pixel in the worst mode (greyscale or RGB with alpha), 0.8 GB here, and room for the rest.
    max_image_pixels: int = 100_000_000


class VideoLimits(BaseSettings):
    """What the site accepts as video and how long a worker may spend on one task (VIDEO_*).

    Inputs over these limits fail with a readable reason; a task still running after
    `task_timeout_s` has its ffmpeg killed and the job fails.
    """

    model_config = SettingsConfigDict(env_prefix="VIDEO_")

    max_upload_bytes: int = 8 * 1024**3
    max_duration_s: float = 3 * 3600.0
    #: Longest edge and total pixels of a frame (4K UHD by default).
    max_edge: int = 4096
    max_pixels: int = 4096 * 2160
    task_timeout_s: float = 1800.0
    #: ffmpeg threads per task. A worker runs one task at a time, so 0 (ffmpeg's choice: every core)
    #: suits one worker per machine; with several on one machine, cores / workers avoids thrashing.
    ffmpeg_threads: int = 0
    #: At most one progress event per task this often.
    progress_interval_s: float = 1.0
    hls_segment_s: int = 4
    #: The ffmpeg and ffprobe to run (Debian's, on the PATH, unless an operator points elsewhere).
    ffmpeg_binary: str = "ffmpeg"
    ffprobe_binary: str = "ffprobe"


def default_instance_id(service: str) -> str:
    """A readable id for one running process of a service: `<service>@<host>:<pid>`."""
    return f"{service}@{socket.gethostname()}:{os.getpid()}"
