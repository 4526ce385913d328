"""MinIO's audit entries (`storage.audit`) as lines of monitoring's log view, under the service `minio`.

MinIO publishes one entry per storage API call itself; here each becomes a `LogRecord`, so the
log view, its filters and a correlation id's trace show the storage calls beside the services'
lines. Failed calls are warnings (4xx) or errors (5xx). Headers never reach the line: they carry
request signatures.
"""

from __future__ import annotations

from shared.events import LogLevel, LogRecord, StorageAuditEntry, new_id

SERVICE = "minio"


def audit_line(entry: StorageAuditEntry) -> LogRecord:
    api = entry.api
    status = api.status_code
    level = LogLevel.ERROR if status >= 500 else LogLevel.WARNING if status >= 400 else LogLevel.INFO
    target = f"{api.bucket}/{api.object}" if api.object else api.bucket or "-"
    message = f"{api.name or 'request'} {target} -> {status or '?'}"
    message += (
        f" ({api.rx} B in, {api.tx} B out, {api.time_to_response or '?'}) from {entry.remote_host or '?'}"
    )
    if entry.error:
        message += f": {entry.error}"
    return LogRecord(
        correlation_id=entry.correlation_id or new_id(),
        uncorrelated=not entry.correlation_id,
        occurred_at=entry.occurred_at,
        service=SERVICE,
        instance_id=SERVICE,
        level=level,
        logger="minio.audit",
        message=message,
    )
