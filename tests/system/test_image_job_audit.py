"""An image job's storage calls, as MinIO's audit log on Kafka counts them (issue #18).

Each call is a `storage.audit` record that monitoring consumes, the largest topic per job. The
whole site runs: the frontend stores the original, a worker encodes it.
"""

from __future__ import annotations

from collections import Counter

from shared.events import STORAGE_AUDIT, StorageAuditEntry
from tests.eventually import eventually
from tests.media_samples import image_bytes
from tests.system.conftest import Site, read_topic


def test_an_image_job_makes_twelve_storage_calls_or_fewer(small_site: Site) -> None:
    """Before: 15 (a GET of the manifest and one of the failed marker where one LIST answers, and
    two stats of the original before its GET)."""
    response = small_site.upload(image_bytes())
    assert response.status_code == 202, response.text
    correlation_id = response.headers["X-Correlation-ID"]
    job = small_site.wait_for(response.json()["job_id"])
    assert job["status"] == "done"

    def calls() -> list[StorageAuditEntry]:
        entries = read_topic(small_site.stack, STORAGE_AUDIT, timeout=2)
        return sorted(
            (entry for entry in entries if entry.correlation_id == correlation_id),
            key=lambda entry: entry.occurred_at,
        )

    # The manifest is stored last: once its PUT is on the topic, the job's calls all are.
    made = eventually(
        calls,
        until=lambda made: any(entry.api.object.endswith("/manifest.json") for entry in made),
        timeout=60,
        what="the audit entry of the job's manifest",
    )
    names = Counter(entry.api.name for entry in made)
    renditions = len(job["renditions"])
    assert names == Counter(
        {"PutObject": 1 + renditions + 1, "ListObjectsV2": 1, "GetObject": 1, "HeadObject": 1}
    ), [f"{entry.api.name} {entry.api.object}" for entry in made]
    assert sum(names.values()) <= 12
