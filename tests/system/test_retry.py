"""Jobs in the hands of their owners without workers racing them: retrying a failed job (its
original is re-encoded as a new job) and refusing to delete a job still queued."""

from __future__ import annotations

from services.reencoder.renditions import IMAGE_LADDER
from tests.media_samples import image_bytes
from tests.system.conftest import Site


def test_a_job_that_timed_out_succeeds_when_retried(bare_site: Site) -> None:
    impatient = bare_site.stack.start_service(
        "reencoder-impatient", "services.reencoder", {"REENCODER_JOB_TIMEOUT_S": "0.001"}
    )
    failed = bare_site.wait_for(bare_site.upload_ok(image_bytes(1200, 800), "slow.jpg"))
    assert failed["status"] == "failed"
    assert "limit" in failed["error"]
    bare_site.stack.stop_service("reencoder-impatient")
    assert impatient.returncode == 0

    bare_site.stack.start_reencoder("reencoder-1")
    retried = bare_site.http.post(f"/api/jobs/{failed['job_id']}/retry")
    assert retried.status_code == 202, retried.text
    again = bare_site.wait_for(retried.json()["job_id"])
    assert again["status"] == "done", again["error"]
    assert again["filename"] == "slow.jpg"
    assert len(again["renditions"]) == len(IMAGE_LADDER)
    # The failed job is kept with its reason until its owner deletes it.
    assert bare_site.job(failed["job_id"])["status"] == "failed"

    assert bare_site.http.post(f"/api/jobs/{again['job_id']}/retry").status_code == 409
    other = bare_site.another_user()
    try:
        assert other.http.post(f"/api/jobs/{failed['job_id']}/retry").status_code == 404
    finally:
        other.http.close()


def test_a_job_still_running_cannot_be_deleted(bare_site: Site) -> None:
    job_id = bare_site.upload_ok(image_bytes(), "queued.jpg")  # no workers: it stays queued
    refused = bare_site.http.delete(f"/api/jobs/{job_id}")
    assert refused.status_code == 409
    assert "queued" in refused.json()["detail"]
