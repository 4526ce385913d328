"""MinIO's audit target: the same settings locally (infra/local/storage_events.py) and in compose's
storage-init, and each audit entry as a line of monitoring's log view."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from infra.local.storage_events import TARGET_NAME, audit_config
from services.monitoring.storage_audit import audit_line
from shared.events import STORAGE_AUDIT, LogLevel, StorageAuditEntry

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())["services"]


def test_compose_sets_the_audit_target_as_the_local_stack_does() -> None:
    command = " ".join(COMPOSE["storage-init"]["command"])
    words = shlex.split(command.split(f"mc admin config set local audit_kafka:{TARGET_NAME}", 1)[1])
    settings = dict(word.split("=", 1) for word in words)
    minio = COMPOSE["minio"]["environment"]
    sasl = {key: value for key, value in minio.items() if key.startswith("MINIO_NOTIFY_KAFKA_SASL")}
    expected = audit_config(minio["MINIO_NOTIFY_KAFKA_BROKERS_PRIMARY"], "/var/lib/minio-events/audit", sasl)
    # Compose's `$$` is a `$` for the shell, which reads the password from storage-init's environment.
    assert settings == expected | {"sasl_password": "$$KAFKA_MINIO_PASSWORD"}
    assert "KAFKA_MINIO_PASSWORD" in COMPOSE["storage-init"]["environment"]
    assert settings["topic"] == STORAGE_AUDIT.name


def test_an_audit_entry_is_a_log_line_without_headers() -> None:
    entry = StorageAuditEntry.model_validate(
        {
            "version": "1",
            "time": "2026-12-01T10:00:00Z",
            "api": {
                "name": "PutObject",
                "bucket": "uploads",
                "object": "j1/original",
                "statusCode": 200,
                "rx": 5,
            },
            "remotehost": "127.0.0.1",
            "requestID": "r1",
            "requestHeader": {"X-Correlation-Id": "c-1", "Authorization": "AWS4-HMAC-SHA256 Credential=..."},
        }
    )
    line = audit_line(entry)
    assert (line.service, line.level, line.correlation_id, line.uncorrelated) == (
        "minio",
        LogLevel.INFO,
        "c-1",
        False,
    )
    assert line.message.startswith("PutObject uploads/j1/original -> 200 (5 B in")
    assert "AWS4" not in line.model_dump_json()


def test_a_failed_call_is_a_warning_and_one_without_a_correlation_id_is_marked() -> None:
    entry = StorageAuditEntry.model_validate(
        {"time": "2026-12-01T10:00:00Z", "api": {"name": "GetObject", "statusCode": 404}}
    )
    line = audit_line(entry)
    assert (line.level, line.uncorrelated) == (LogLevel.WARNING, True)
