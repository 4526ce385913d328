"""`reencode scale reencoder=N` on a running stack: a new worker joins the group and takes jobs."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx

from infra.local.scaling import stack_scaler
from infra.local.stack import REPO_ROOT
from shared.events import JOBS_REQUESTED
from tests.eventually import eventually
from tests.system.conftest import Site


def scale(site: Site, count: int) -> str:
    """Runs the operator's command while the stack's loop applies it, as `make run` does each second."""
    state_dir = site.stack.config.state_dir
    command = subprocess.Popen(
        [sys.executable, "-m", "infra.local", "scale", f"reencoder={count}", "--state-dir", str(state_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    scaler = stack_scaler(site.stack)
    eventually(lambda: scaler.apply() or command.poll() is not None, timeout=60, what="the scale request")
    output, _ = command.communicate(timeout=120)
    assert command.returncode == 0, output
    scaler.wait_for_stops(60)
    return output


def test_scaling_the_workers_up_brings_one_that_takes_jobs_and_down_leaves_one(small_site: Site) -> None:
    assert "reencoder-1, reencoder-2" in scale(small_site, 2)
    small_site.wait_for_group("reencoder", 2)

    def a_job_done_by_the_new_worker() -> bool:
        job = small_site.wait_for(small_site.upload_ok())
        assert job["status"] == "done", job
        return bool(job["worker_id"] == "reencoder-2")

    # Jobs are keyed to partitions, half of which the new worker holds now.
    eventually(a_job_done_by_the_new_worker, timeout=120, interval=0, what="a job done by reencoder-2")

    assert "reencoder: reencoder-1" in scale(small_site, 1)
    assert "reencoder-2" not in small_site.stack.services
    small_site.wait_for_group("reencoder", 1)


def test_monitoring_advises_on_the_workers_queue(small_site: Site) -> None:
    small_site.wait_for(small_site.upload_ok())
    monitoring = f"http://127.0.0.1:{small_site.stack.config.monitoring_port}"

    def advice() -> list[dict[str, Any]]:
        status = httpx.get(f"{monitoring}/api/monitoring/status", timeout=30).json()
        return [a for a in status["scaling"] if (a["group"], a["topic"]) == ("reencoder", "jobs.requested")]

    (queue,) = eventually(advice, what="advice on the reencoder group's jobs.requested")
    assert queue["partitions"] == JOBS_REQUESTED.partitions
    assert queue["workers"] >= 1
    assert queue["note"]
