"""MinIO's audit log reaches Kafka (`storage.audit`) and monitoring's log view shows the storage calls."""

from __future__ import annotations

from typing import Any

import httpx

from shared.events import STORAGE_AUDIT
from tests.eventually import eventually
from tests.media_samples import image_bytes
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


def test_an_uploads_trace_includes_its_storage_calls(small_site: Site) -> None:
    response = small_site.upload(image_bytes())
    assert response.status_code == 202, response.text
    correlation_id = response.headers["X-Correlation-ID"]
    job_id = response.json()["job_id"]
    assert small_site.wait_for(job_id)["status"] == "done"
    monitoring = f"http://127.0.0.1:{small_site.stack.config.monitoring_port}"

    def storage_lines() -> list[dict[str, Any]]:
        trace = httpx.get(f"{monitoring}/api/monitoring/traces/{correlation_id}", timeout=30).json()
        return [line for line in trace["lines"] if line["service"] == "minio"]

    # The frontend stores the original, the reencoder reads it and stores the renditions: all with
    # the upload's correlation id in their `X-Correlation-Id` header, which MinIO's audit entry keeps.
    lines = eventually(
        storage_lines,
        until=lambda lines: {"PutObject", "GetObject"} <= {line["message"].split(" ")[0] for line in lines},
        timeout=60,
        what="the upload's storage calls in its trace",
    )
    assert any(job_id in line["message"] for line in lines)
