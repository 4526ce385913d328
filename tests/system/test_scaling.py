"""`reencode scale reencoder=N` on a running stack: a new worker joins the group and takes jobs; the
dashboard shows monitoring's scaling advisor to operators."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from infra.local.scaling import Scaler, stack_scaler
from infra.local.stack import REPO_ROOT
from shared.events import JOBS_REQUESTED
from tests.eventually import eventually
from tests.media_samples import image_bytes
from tests.system import test_browser
from tests.system.conftest import Site, grant_operator
from tests.system.test_browser import check_page

# The browser tests' Chromium and signed-up account, for the dashboard's advisor panel.
browser = test_browser.browser
account = test_browser.account
page = test_browser.page

#: A burst big enough to keep four workers busy for a while, small enough to stay seconds long.
BURST = 20


def scale_command(state_dir: Path, scaler: Scaler, *pairs: str) -> subprocess.CompletedProcess[str]:
    """Runs the operator's command while the stack's loop applies it, as `make run` does each second."""
    command = subprocess.Popen(
        [sys.executable, "-m", "infra.local", "scale", *pairs, "--state-dir", str(state_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    eventually(lambda: scaler.apply() or command.poll() is not None, timeout=60, what="the scale request")
    output, _ = command.communicate(timeout=120)
    scaler.wait_for_stops(60)
    return subprocess.CompletedProcess(command.args, command.returncode, output)


def scale(site: Site, count: int) -> str:
    done = scale_command(site.stack.config.state_dir, stack_scaler(site.stack), f"reencoder={count}")
    assert done.returncode == 0, done.stdout
    return done.stdout


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


def test_four_workers_take_partitions_during_a_burst_and_one_is_left_with_nothing_stuck(
    small_site: Site,
) -> None:
    scale(small_site, 2)
    small_site.wait_for_group("reencoder", 2)
    burst = [small_site.upload_ok(image_bytes(320, 240)) for _ in range(BURST)]

    assert "reencoder-1, reencoder-2, reencoder-3, reencoder-4" in scale(small_site, 4)
    small_site.wait_for_group("reencoder", 4)  # every member holds partitions: none sits idle
    for job_id in burst:
        assert small_site.wait_for(job_id, timeout=180)["status"] == "done"

    leaving = [small_site.stack.services[f"reencoder-{n}"] for n in (2, 3, 4)]
    assert "reencoder: reencoder-1" in scale(small_site, 1)
    # Stopped like compose stops a container: SIGTERM, and each left on its own, within the grace.
    assert [(p.name, p.returncode) for p in leaving] == [(p.name, 0) for p in leaving]
    small_site.wait_for_group("reencoder", 1)
    # Nothing stuck: the burst stays done, and the lone worker takes over every partition.
    assert {small_site.job(job_id)["status"] for job_id in burst} == {"done"}
    after = [small_site.upload_ok(image_bytes(320, 240)) for _ in range(3)]
    for job_id in after:
        job = small_site.wait_for(job_id, timeout=120)
        assert (job["status"], job["worker_id"]) == ("done", "reencoder-1"), job


def test_the_dashboard_shows_the_scaling_advisor_to_operators_only(
    small_site: Site, account: tuple[BrowserContext, str], page: Page, tmp_path: Path
) -> None:
    small_site.wait_for(small_site.upload_ok())  # a queue for the advisor to measure
    page.goto("/dashboard")
    expect(page.locator("#advisor-state")).to_have_text("The scaling advisor is for operators.")
    grant_operator(small_site.stack, account[1])
    page.reload()
    row = page.locator("#advisor tbody tr[data-group='reencoder']").first
    expect(row).to_contain_text(JOBS_REQUESTED.name, timeout=60_000)
    page.wait_for_selector("#connection[data-state='live']", timeout=30_000)
    check_page(page, "dashboard-advisor", tmp_path)


def test_plain_make_run_refuses_to_scale_its_frontend_and_says_why(small_site: Site) -> None:
    scaler = stack_scaler(small_site.stack)
    scaler.record()  # what `make run` writes when it starts
    refused = scale_command(small_site.stack.config.state_dir, scaler, "frontend=2")
    assert refused.returncode == 2, refused.stdout
    said = " ".join(refused.stdout.split())  # as one line, however the console wrapped it
    assert "only be scaled on `make run-full`" in said
    assert "no load balancer" in said
    assert [name for name in small_site.stack.services if name.startswith("frontend")] == ["frontend"]
