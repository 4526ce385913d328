"""MinIO's audit log reaches Kafka (`storage.audit`) and monitoring's log view shows the storage calls."""

from __future__ import annotations

from typing import Any

import httpx

from shared.events import STORAGE_AUDIT
from tests.eventually import eventually
from tests.system.conftest import Site, read_topic


def test_an_uploads_storage_calls_are_on_the_audit_topic_and_in_monitorings_logs(small_site: Site) -> None:
    job_id = small_site.upload_ok()
    assert small_site.wait_for(job_id)["status"] == "done"
    bucket = small_site.stack.config.storage.uploads_bucket

    def stored_original() -> list[Any]:
        return [
            entry
            for entry in read_topic(small_site.stack, STORAGE_AUDIT, timeout=2)
            if entry.api.name == "PutObject" and entry.api.bucket == bucket and job_id in entry.api.object
        ]

    (entry, *_) = eventually(stored_original, timeout=60, what="MinIO's audit entry of the stored original")
    assert entry.api.status_code == 200
    assert entry.api.rx > 0

    monitoring = f"http://127.0.0.1:{small_site.stack.config.monitoring_port}"

    def minio_lines() -> list[dict[str, Any]]:
        response = httpx.get(
            f"{monitoring}/api/monitoring/logs", params={"service": "minio", "q": job_id}, timeout=30
        )
        lines: list[dict[str, Any]] = response.json()["lines"]
        return lines

    lines = eventually(minio_lines, timeout=60, what="the storage calls in monitoring's log view")
    assert any(line["message"].startswith("PutObject ") and line["logger"] == "minio.audit" for line in lines)
