"""Several workers in one consumer group: shared work, exactly one result, survival of a crash."""

from __future__ import annotations

from collections import Counter

from services.reencoder.renditions import IMAGE_LADDER
from shared.events import JOBS_STATUS, JobStatus
from tests.eventually import eventually
from tests.media_samples import image_bytes
from tests.system.conftest import Site, read_topic

#: One set of an image job's objects: every rendition of the ladder and the manifest.
ONE_SET = len(IMAGE_LADDER) + 1

GROUP = "reencoder"


def test_two_workers_share_a_burst_of_20_uploads_each_done_once(bare_site: Site) -> None:
    site = bare_site
    site.stack.start_reencoder("worker-a")
    site.stack.start_reencoder("worker-b")
    site.wait_for_group(GROUP, members=2)

    job_ids = [site.upload_ok(image_bytes(800, 600), f"burst-{i}.jpg") for i in range(20)]
    jobs = [site.wait_for(job_id, timeout=120) for job_id in job_ids]
    assert [job["status"] for job in jobs] == ["done"] * 20

    ours = set(job_ids)
    done = [e for e in read_topic(site.stack, JOBS_STATUS) if e.job_id in ours and e.status == JobStatus.DONE]
    assert Counter(e.job_id for e in done) == Counter(job_ids), "a job was finished more than once"
    assert {e.worker_id for e in done} == {"worker-a", "worker-b"}, "the work was not shared"
    for job_id in job_ids:
        assert len(site.store.list_keys(site.store.renditions_bucket, f"{job_id}/")) == ONE_SET


def test_worker_killed_mid_job_is_finished_by_another(bare_site: Site) -> None:
    site = bare_site
    workers = {name: site.stack.start_reencoder(name) for name in ("worker-c", "worker-d")}
    site.wait_for_group(GROUP, members=2)

    # A large PNG keeps a worker busy for seconds, long enough to kill it in the middle.
    job_id = site.upload_ok(image_bytes(9000, 7000, "PNG"), "big.png")
    victim = site.wait_for(job_id, statuses=("processing", "done", "failed"))
    assert victim["status"] == "processing", "the job finished before the worker could be killed"
    victim_name = _worker_of(site, job_id)
    workers[victim_name].kill()

    job = site.wait_for(job_id, timeout=120)
    assert job["status"] == "done", job["error"]
    survivor = next(name for name in workers if name != victim_name)
    assert _worker_of(site, job_id) == survivor
    assert len(site.store.list_keys(site.store.renditions_bucket, f"{job_id}/")) == ONE_SET


def _worker_of(site: Site, job_id: str) -> str:
    worker: str = site.job(job_id)["worker_id"]
    return worker


def test_a_job_longer_than_the_poll_interval_is_encoded_once(bare_site: Site) -> None:
    # The worker may go at most 2 s between polls, the job takes longer: pausing its partitions
    # and polling on must keep it in the group, so the job is neither taken away nor redone.
    site = bare_site
    site.stack.start_service(
        "worker-slow",
        "services.reencoder",
        {"INSTANCE_ID": "worker-slow", "KAFKA_MAX_POLL_INTERVAL_MS": "2000"},
    )
    site.wait_for_group(GROUP, members=1)

    job_id = site.upload_ok(image_bytes(9000, 7000, "PNG"), "slow.png")
    job = site.wait_for(job_id, timeout=120)
    assert job["status"] == "done", job["error"]

    reports = [e for e in read_topic(site.stack, JOBS_STATUS) if e.job_id == job_id]
    starts = [e for e in reports if e.status == JobStatus.PROCESSING and e.progress == 0.0]
    assert len(starts) == 1, f"the job was started {len(starts)} times"
    assert [e.status for e in reports].count(JobStatus.DONE) == 1


def test_a_stopped_worker_finishes_its_job_and_leaves_cleanly(bare_site: Site) -> None:
    site = bare_site
    worker = site.stack.start_reencoder("worker-e")
    site.wait_for_group(GROUP, members=1)

    job_id = site.upload_ok(image_bytes(9000, 7000, "PNG"), "graceful.png")
    assert site.wait_for(job_id, statuses=("processing", "done"))["status"] == "processing"
    worker.terminate()  # SIGTERM, as Ctrl-C, `docker stop` or a scale-down sends it

    job = site.wait_for(job_id, timeout=60)
    assert (job["status"], job["worker_id"]) == ("done", "worker-e")
    eventually(lambda: not worker.is_running, timeout=30, interval=0.1, what="worker-e exited")
    assert worker.returncode == 0
    assert "left group reencoder" in (site.stack.logs_dir / "worker-e.log").read_text()
