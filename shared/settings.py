"""Typed settings, one class per concern, read from environment variables once at start-up.

Every knob has a default that works for the local stack (`make run`); docker compose overrides them
through the environment. Services build the classes they need in their entry point and pass them in.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

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


class DatabaseSettings(BaseSettings):
    """The relational database: SQLite by default, PostgreSQL when DATABASE_URL points at one."""

    model_config = SettingsConfigDict(env_prefix="DATABASE_")

    url: str = Field(default_factory=lambda: f"sqlite:///{STATE_DIR / 'db' / 'reencode.sqlite'}")
    pool_size: int = 5
    connect_timeout_s: int = 10


class MediaLimits(BaseSettings):
    """What the site accepts. Inputs over these limits are refused with a readable reason."""

    model_config = SettingsConfigDict(env_prefix="MEDIA_")

    max_upload_bytes: int = 50 * 1024 * 1024
    #: Decompression-bomb guard: images with more pixels than this are refused before decoding.
    max_image_pixels: int = 100_000_000


def default_instance_id(service: str) -> str:
    """A readable id for one running process of a service: `<service>@<host>:<pid>`."""
    return f"{service}@{socket.gethostname()}:{os.getpid()}"
