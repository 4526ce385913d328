"""MinIO's bucket notifications and audit log to Kafka, set up the same way locally and in compose.

MinIO itself publishes a notification for each stored original to the catalogue's `storage.events`
topic (its Kafka notification target, configured through environment variables), once the uploads
bucket is subscribed to that target. docker-compose.yml sets the same variables on its `minio`
service and subscribes with `mc event add`; tests/unit/test_compose.py compares the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from minio import Minio
from minio.credentials.providers import StaticProvider
from minio.minioadmin import MinioAdmin
from minio.notificationconfig import NotificationConfig, QueueConfig

from shared.events import STORAGE_AUDIT, STORAGE_EVENTS
from shared.settings import StorageSettings

#: MinIO's name for the Kafka target configured by the `_PRIMARY` variables below.
TARGET_ARN = "arn:minio:sqs::PRIMARY:kafka"
#: The audit target's name (`audit_kafka:PRIMARY`).
TARGET_NAME = "PRIMARY"


def notification_env(bootstrap_servers: str, queue_dir: Path | str) -> dict[str, str]:
    """MinIO's environment for publishing to `storage.events` on the cluster at `bootstrap_servers`.

    The queue folder keeps notifications while Kafka is unreachable, so none is lost at start-up or
    while a broker is down.
    """
    return {
        "MINIO_NOTIFY_KAFKA_ENABLE_PRIMARY": "on",
        "MINIO_NOTIFY_KAFKA_BROKERS_PRIMARY": bootstrap_servers,
        "MINIO_NOTIFY_KAFKA_TOPIC_PRIMARY": STORAGE_EVENTS.name,
        "MINIO_NOTIFY_KAFKA_QUEUE_DIR_PRIMARY": str(queue_dir),
    }


def audit_config(
    bootstrap_servers: str, queue_dir: Path | str, notification_sasl: Mapping[str, str] | None = None
) -> dict[str, str]:
    """MinIO's `audit_kafka` settings for publishing its audit log (every storage API call) to
    `storage.audit`, which monitoring shows among the log lines. It signs in as the notifications do
    (their `MINIO_NOTIFY_KAFKA_SASL_*` variables); the queue folder keeps entries while Kafka is away."""
    sasl = {
        key.removeprefix("MINIO_NOTIFY_KAFKA_").removesuffix("_PRIMARY").lower(): value
        for key, value in (notification_sasl or {}).items()
        if key.startswith("MINIO_NOTIFY_KAFKA_SASL")
    }
    return {
        "enable": "on",
        "brokers": bootstrap_servers,
        "topic": STORAGE_AUDIT.name,
        "queue_dir": str(queue_dir),
        **sasl,
    }


def enable_audit(settings: StorageSettings, config: Mapping[str, str]) -> None:
    """Turn MinIO's Kafka audit target on at run time (its admin API, as `mc admin config set` does).

    Not through MINIO_AUDIT_KAFKA_* at start: MinIO builds that target once, at start-up, and a
    broker still starting then leaves it without one (and held up its notification target long
    enough for the uploads bucket's subscription to fail). Set once Kafka and the topic are up, it
    applies at once."""
    admin = MinioAdmin(
        endpoint=settings.endpoint,
        credentials=StaticProvider(settings.access_key, settings.secret_key),
        secure=settings.secure,
        region=settings.region,
    )
    admin.config_set(f"audit_kafka:{TARGET_NAME}", dict(config))


def subscribe_uploads(settings: StorageSettings) -> None:
    """Have MinIO announce every object created in the uploads bucket (idempotent: replaces)."""
    client = Minio(
        settings.endpoint,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        secure=settings.secure,
        region=settings.region,
    )
    config = NotificationConfig(
        queue_config_list=[
            QueueConfig(events=["s3:ObjectCreated:*"], config_id="storage-events", queue=TARGET_ARN)
        ]
    )
    client.set_bucket_notification(settings.uploads_bucket, config)
