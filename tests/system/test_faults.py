"""Faults on the real parts, judged by what the site and monitoring then show.

One site on the session's Kafka and MinIO with a private PostgreSQL (stopped and started by a test),
one worker whose ffmpeg encodes at the input's own pace (`-re`: a 12 s video takes about 12 s per
task, real progress included), and monitoring with a lag window far shorter than one such task:

- a long video task is busy, not stuck (it commits only when it ends), while a consumer that takes
  records and never commits still raises `kafka.group_stuck`;
- the database stopped while DONE events arrive loses nothing: the status recorder retries the
  outage, every job ends done, nothing is dead-lettered;
- the broker stopped while an encode publishes its progress costs the encode nothing: progress is
  best effort, the chunk is encoded once and the job ends done;
- a worker that crashed and was restarted under its name shows one restart more.
"""

from __future__ import annotations

import asyncio
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.postgres import PostgresServer
from infra.local.processes import free_port
from infra.local.stack import LocalStack
from shared.events import (
    ALERTS,
    DEAD_LETTERS,
    JOBS_STATUS,
    VIDEO_TASKS,
    AlertState,
    JobStatus,
    new_id,
    utc_now,
)
from shared.kafka.clients import kafka_consumer
from tests.eventually import eventually
from tests.media_samples import image_bytes
from tests.system.conftest import Site, read_topic, start_site
from tests.video_samples import ffmpeg_binary, video_bytes

TASKS_GROUP = "reencoder.video-tasks"
LAG_WINDOW_S = 4
ENV = {
    "TELEMETRY_HEARTBEAT_INTERVAL_S": "1",
    "MONITORING_POLL_INTERVAL_S": "1",
    "MONITORING_LAG_WINDOW_S": str(LAG_WINDOW_S),
    "MONITORING_PROBE_TIMEOUT_S": "5",
}
VIDEO_SECONDS = 12.0
WITHIN_S = 180.0


@dataclass
class FaultSite:
    site: Site
    postgres: PostgresServer
    monitoring: httpx.Client
    ffmpeg_commands: Path

    def encodes(self, needle: str) -> list[str]:
        """The HLS encodes (not the poster's one frame, not packaging) whose command names `needle`."""
        lines = self.ffmpeg_commands.read_text().splitlines() if self.ffmpeg_commands.exists() else []
        return [line for line in lines if needle in line and "index.m3u8" in line]

    def status(self) -> dict[str, Any]:
        response = self.monitoring.get("/api/monitoring/status")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def paced_ffmpeg(folder: Path) -> str:
    """Debian's ffmpeg decoding at the input's own frame rate (`-re`), so encodes and previews take
    real time; packaging (`-c copy`) stays as fast as ever. Every command line is logged to
    `commands.log` beside it, so a test counts encodes."""
    real = ffmpeg_binary()
    script = folder / "ffmpeg"
    log = folder / "commands.log"
    script.write_text(
        f'#!/bin/sh\necho "$*" >> {log}\n'
        f'case " $* " in *" -c copy "*) exec {real} "$@" ;; esac\nexec {real} -re "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.fixture(scope="module")
def faults(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultSite]:
    # Outside pytest's folder: a concurrent pytest run may make that untraversable again (0700) for
    # the `postgres` user, and this server is restarted after its first start.
    postgres_dir = Path(tempfile.mkdtemp(prefix="reencode-faults-pg-"))
    postgres = PostgresServer(postgres_dir / "data", port=free_port(), fast=True)
    postgres.start()
    postgres.wait_ready()
    postgres.create_database("site")
    saved = dict(stack.config.service_env)
    stack.config.service_env.update(ENV)
    ffmpeg_folder = tmp_path_factory.mktemp("ffmpeg")
    stack.config.service_env["VIDEO_FFMPEG_BINARY"] = paced_ffmpeg(ffmpeg_folder)
    try:
        site = start_site(stack, reencoders=1, database_url=postgres.url("site"))
        monitoring = httpx.Client(base_url=f"http://127.0.0.1:{stack.config.monitoring_port}", timeout=30)
        try:
            yield FaultSite(site, postgres, monitoring, ffmpeg_folder / "commands.log")
        finally:
            monitoring.close()
            site.http.close()
            stack.stop_services()
    finally:
        stack.config.service_env = saved
        postgres.stop()
        shutil.rmtree(postgres_dir, ignore_errors=True)


@dataclass
class Seen:
    """What the monitoring status showed for the video tasks' group over the test."""

    statuses: set[str] = field(default_factory=set)
    alerts: set[str] = field(default_factory=set)


def test_a_long_video_task_is_busy_not_stuck_while_a_consumer_that_never_commits_is(
    faults: FaultSite,
) -> None:
    site, seen = faults.site, Seen()
    hung_group = f"hung-{new_id()[:8]}"
    hung_key = f"kafka.group_stuck:{hung_group}/{VIDEO_TASKS.name}"

    def look() -> dict[str, Any]:
        status = faults.status()
        seen.alerts |= {alert["key"] for alert in status["alerts"]}
        for group in status["kafka"].get("groups", []):
            if group["group"] == TASKS_GROUP:
                seen.statuses.add(group["status"])
        return status

    def job_while_looking(job_id: str) -> dict[str, Any]:
        look()
        return site.job(job_id)

    async def scenario() -> None:
        # A consumer of the same tasks in its own group: it joins, takes records, commits nothing.
        hung = kafka_consumer(
            site.stack.config.kafka,
            VIDEO_TASKS.name,
            group_id=hung_group,
            client_id="hung-worker",
            auto_offset_reset="earliest",
            max_poll_interval_ms=600_000,
        )
        await hung.start()
        try:
            await hung.getmany(timeout_ms=2000)
            response = await asyncio.to_thread(
                site.upload, video_bytes(seconds=VIDEO_SECONDS), "long.mp4", "video/mp4"
            )
            assert response.status_code == 202, response.text
            job_id: str = response.json()["job_id"]
            started = time.monotonic()
            job = await asyncio.to_thread(
                eventually,
                lambda: job_while_looking(job_id),
                until=lambda job: job["status"] in ("done", "failed"),
                timeout=WITHIN_S,
                interval=0.5,
                what=f"video job {job_id} finished",
            )
            assert job["status"] == "done", job
            # Tasks ran one after another on one worker, each far longer than the lag window.
            assert time.monotonic() - started > 3 * LAG_WINDOW_S
            await asyncio.to_thread(
                eventually,
                look,
                until=lambda status: hung_key in {alert["key"] for alert in status["alerts"]},
                timeout=WITHIN_S,
                interval=0.5,
                what=f"alert {hung_key}",
            )
        finally:
            await hung.stop()

    asyncio.run(scenario())
    assert "busy" in seen.statuses, seen.statuses  # the window did run out during a task
    assert "stuck" not in seen.statuses, seen.statuses
    tasks_stuck = f"kafka.group_stuck:{TASKS_GROUP}/"
    assert not any(key.startswith(tasks_stuck) for key in seen.alerts), seen.alerts
    raised = {alert.key for alert in read_topic(site.stack, ALERTS) if alert.state is AlertState.RAISED}
    assert hung_key in raised
    assert not any(key.startswith(tasks_stuck) for key in raised), raised


def done_announced(site: Site, jobs: list[str]) -> list[datetime]:
    """When each of `jobs` was announced DONE on jobs.status, as the status recorder reads it."""
    return [
        event.occurred_at
        for event in read_topic(site.stack, JOBS_STATUS, timeout=1.0)
        if event.job_id in jobs and event.status is JobStatus.DONE
    ]


def test_the_database_stopped_while_done_events_arrive_loses_no_job(faults: FaultSite) -> None:
    site = faults.site
    # Uploaded side by side, so the one worker still has most of them to encode when the database stops.
    with ThreadPoolExecutor(max_workers=3) as uploads:  # a user may send three at once
        jobs = list(uploads.map(lambda _: site.upload_ok(image_bytes(2400, 1800)), range(8)))
    # The worker has them: it goes on encoding and announcing DONE, which the status recorder
    # cannot write while the database is down.
    eventually(
        lambda: [site.job(job_id)["status"] for job_id in jobs],
        until=lambda statuses: "processing" in statuses,
        timeout=WITHIN_S,
        interval=0.2,
        what="the worker on the first job",
    )
    stopped_at = utc_now()
    faults.postgres.stop()
    try:
        # Down until a DONE is announced into the outage, however slow the machine encodes.
        eventually(
            lambda: [at for at in done_announced(site, jobs) if at >= stopped_at],
            until=bool,
            timeout=WITHIN_S,
            interval=0.5,
            what="a DONE announced while the database is down",
        )
    finally:
        faults.postgres.start()
        started_at = utc_now()
        faults.postgres.wait_ready()

    for job_id in jobs:
        assert site.wait_for(job_id, timeout=WITHIN_S)["status"] == "done"
    listed = site.http.get("/api/jobs", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    mine = [job for job in listed.json()["jobs"] if job["job_id"] in jobs]
    assert sorted(job["status"] for job in mine) == ["done"] * len(jobs)  # none left processing
    letters = [
        letter for letter in read_topic(site.stack, DEAD_LETTERS) if letter.source_topic == JOBS_STATUS.name
    ]
    assert letters == []
    # The fault did hit: some jobs were announced done while the database was down.
    done = done_announced(site, jobs)
    assert any(stopped_at <= at <= started_at for at in done), (stopped_at, started_at, sorted(done))


def test_the_broker_stopped_while_an_encode_reports_progress_costs_the_encode_nothing(
    faults: FaultSite,
) -> None:
    """Before: the first progress event the broker refused raised out of ffmpeg's progress
    callback, killed ffmpeg and started the task again from zero."""
    site, kafka = faults.site, faults.site.stack.kafka
    assert kafka is not None
    job_id = site.upload_ok(video_bytes(seconds=VIDEO_SECONDS), "progress.mp4")
    eventually(
        lambda: site.job(job_id),
        until=lambda job: job["status"] == "processing" and job["progress"] > 0,
        timeout=WITHIN_S,
        interval=0.2,
        what=f"job {job_id} reporting progress",
    )
    first_chunk = f"{job_id}-chunk-00000"
    assert len(faults.encodes(first_chunk)) == 1  # paced: it runs for seconds yet
    kafka.stop_node(0)
    try:
        time.sleep(4)  # the encode goes on, its progress events refused
    finally:
        kafka.start_node(0)
        kafka.wait_ready(timeout=120)

    assert site.wait_for(job_id, timeout=WITHIN_S)["status"] == "done"
    chunks = {line.split(f"{job_id}-chunk-")[1][:5] for line in faults.encodes(f"{job_id}-chunk-")}
    assert chunks, "no chunk encodes logged"
    for chunk in sorted(chunks):
        assert len(faults.encodes(f"{job_id}-chunk-{chunk}")) == 1, chunk  # never started over


def test_a_crashed_worker_restarted_by_the_supervisor_shows_one_restart(faults: FaultSite) -> None:
    stack = faults.site.stack
    before = next(s for s in faults.status()["services"] if s["instance_id"] == "reencoder-1")
    stack.services["reencoder-1"].kill()  # no farewell beat: a crash
    eventually(
        stack.restart_dead_services,
        until=lambda restarted: "reencoder-1" in restarted,
        timeout=WITHIN_S,
        interval=0.5,
        what="the supervisor restarts reencoder-1",
    )

    def worker() -> dict[str, Any]:
        instance: dict[str, Any] = next(
            s for s in faults.status()["services"] if s["instance_id"] == "reencoder-1"
        )
        return instance

    after = eventually(
        worker,
        until=lambda s: s["up"] and s["restarts"] == before["restarts"] + 1,
        timeout=WITHIN_S,
        interval=0.5,
        what="monitoring counts reencoder-1's restart",
    )
    assert after["last_restart_crashed"] is True
    assert datetime.fromisoformat(after["started_at"]) > datetime.fromisoformat(before["started_at"])
    assert after["last_restart_at"] == after["started_at"]
    page = faults.monitoring.get("/monitoring/static/monitoring.js").text
    assert "s.restarts" in page
