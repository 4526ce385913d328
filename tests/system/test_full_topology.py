"""docker-compose.yml's topology as `make run-full` runs it: every request through nginx (compose's
nginx.conf) to two frontends, on three Kafka nodes and PostgreSQL with a synchronous replica.

One stack for the module (it takes about a minute to start on two cores); the frontend kill runs last.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from infra.local.full import FullConfig, FullTopology
from infra.local.processes import wait_for_port
from services.frontend.accounts.pages import FORM_CSRF_COOKIE
from tests.api_client import TEST_PASSWORD, sign_up
from tests.eventually import eventually
from tests.media_samples import image_bytes
from tests.video_samples import video_bytes

#: Failed logins from one client address before it must wait (per username it stays 5).
FAILURES_PER_CLIENT = 3


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullTopology]:
    state = tmp_path_factory.mktemp("full")
    cache = Path(os.environ.get("REENCODE_CACHE_DIR", Path(__file__).parents[2] / ".state" / "cache"))
    config = FullConfig.on_free_ports(state, cache)
    config.service_env = {"FRONTEND_LOGIN_FAILURES_PER_CLIENT": str(FAILURES_PER_CLIENT)}
    topology = FullTopology(config)
    stopping = threading.Event()

    def supervise() -> None:
        # As `make run-full` does: a service that died is started again.
        while not stopping.wait(1.0):
            topology.restart_dead_services()

    supervisor = threading.Thread(target=supervise)
    try:
        topology.start()
        supervisor.start()
        yield topology
    finally:
        stopping.set()
        if supervisor.is_alive():
            supervisor.join()
        topology.stop()


def client(full: FullTopology, source: str = "127.0.0.1") -> httpx.Client:
    """A client of the site through nginx, connecting from the loopback address `source`."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=full.config.url, transport=transport, timeout=60)


def test_the_database_commits_on_both_servers(full: FullTopology) -> None:
    assert full.postgres.is_streaming()


def test_prometheus_scrapes_every_replica_compose_runs(full: FullTopology) -> None:
    health = full.prometheus.wait_all_up(timeout=90)
    jobs = sorted(key.split("/")[0] for key in health)
    assert jobs == [
        "dblogs",
        "frontend",
        "frontend",
        *["kafka"] * 3,  # each node's JMX exporter agent
        "metrics",
        "minio",
        "monitoring",
        "postgres",
        "reencoder",
        "reencoder",
        "webhooks",
    ]


def test_a_browser_session_made_on_one_frontend_works_on_the_other(full: FullTopology) -> None:
    with client(full) as http:
        answered = {http.get("/healthz").json()["instance"] for _ in range(6)}
        assert answered == {"frontend-1", "frontend-2"}, "nginx should spread requests over both"
        form = http.get("/register")
        token = form.cookies[FORM_CSRF_COOKIE]
        username = f"browser-{time.monotonic_ns() % 10**9}"
        registered = http.post(
            "/register",
            data={
                "username": username,
                "email": f"{username}@example.org",
                "password": TEST_PASSWORD,
                "csrf_token": token,
            },
        )
        assert registered.status_code == 303, registered.text
        # Alternate requests land on alternate frontends: each one knows the session and its CSRF token.
        for _ in range(4):
            me = http.get("/api/auth/me")
            assert me.status_code == 200, me.text
            csrf_token = me.json()["csrf_token"]
            upload = http.post(
                "/api/uploads",
                files={"file": ("photo.jpg", image_bytes(), "image/jpeg")},
                headers={"X-CSRF-Token": csrf_token},
            )
            assert upload.status_code == 202, upload.text


def test_an_upload_over_nginxs_old_cap_reaches_the_frontend(full: FullTopology) -> None:
    with client(full) as http:
        sign_up(http)
        # 70 MB: nginx used to answer 413 with its HTML page at 60 MB. Now the body reaches the
        # frontend, which refuses an image this large with its own JSON problem.
        response = http.post(
            "/api/uploads", files={"file": ("photo.jpg", os.urandom(70 * 1024 * 1024), "image/jpeg")}
        )
        assert response.status_code == 413, response.text[:300]
        assert response.headers["content-type"].startswith("application/json")
        assert "detail" in response.json()


def padded_video(total_bytes: int) -> bytes:
    """A short valid MP4 grown to `total_bytes` with a trailing top-level `free` box: a video that
    large as far as the body limits go, and still quick to encode."""
    video = video_bytes(seconds=2, width=320, height=240)
    padding = total_bytes - len(video)
    return video + padding.to_bytes(4, "big") + b"free" + bytes(padding - 8)


def test_a_video_over_100_mb_goes_through_nginx_in_one_post_and_ends_done(full: FullTopology) -> None:
    with client(full) as http:
        sign_up(http)
        video = padded_video(101 * 1024 * 1024)
        accepted = http.post("/api/uploads", files={"file": ("big.mp4", video, "video/mp4")}, timeout=300)
        assert accepted.status_code == 202, accepted.text[:300]
        job_id = accepted.json()["job_id"]
        job = eventually(
            lambda: http.get(f"/api/jobs/{job_id}").json(),
            until=lambda job: job["status"] in ("done", "failed"),
            timeout=300,
            what=f"the 101 MiB video {job_id} finished",
        )
        assert job["status"] == "done", job
        assert job["size_bytes"] == len(video)


def test_a_jobs_events_arrive_through_nginx_while_it_runs(full: FullTopology) -> None:
    with client(full) as http:
        sign_up(http)
        video = video_bytes(seconds=4, width=640, height=360)
        accepted = http.post("/api/uploads", files={"file": ("clip.mp4", video, "video/mp4")})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        statuses: list[str] = []
        first_at: float | None = None
        with http.stream("GET", f"/api/jobs/{job_id}/events", timeout=180) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    statuses.append(json.loads(line.removeprefix("data: "))["status"])
                    if first_at is None:
                        first_at = time.monotonic()
                        # Delivered now, not when the stream ends: the job is still under way.
                        running = http.get(f"/api/jobs/{job_id}").json()["status"]
                        assert running not in ("done", "failed"), "the first event came only at the end"
        assert statuses[0] not in ("done", "failed")
        assert statuses[-1] == "done", statuses


def test_login_throttling_counts_the_real_client_not_nginx(full: FullTopology) -> None:
    with client(full) as http:
        sign_up(http, username=f"victim-{time.monotonic_ns() % 10**9}")
        victim = http.get("/api/auth/me").json()["user"]["username"]
    with client(full, "127.0.0.2") as guesser:
        for attempt in range(FAILURES_PER_CLIENT):
            refused = guesser.post("/api/auth/token", data={"username": f"nobody-{attempt}", "password": "x"})
            assert refused.status_code == 401, refused.text
        throttled = guesser.post("/api/auth/token", data={"username": victim, "password": TEST_PASSWORD})
        assert throttled.status_code == 429, throttled.text
    # Another client behind the same nginx is not locked out by the guesser.
    with client(full, "127.0.0.3") as neighbour:
        signed_in = neighbour.post("/api/auth/token", data={"username": victim, "password": TEST_PASSWORD})
        assert signed_in.status_code == 200, signed_in.text


def test_forwarded_headers_are_believed_only_from_the_lb_address(full: FullTopology) -> None:
    frontend = f"http://127.0.0.1:{full.config.frontend_ports[0]}"
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    with httpx.Client(base_url=frontend, transport=httpx.HTTPTransport(local_address="127.0.0.1")) as lb:
        assert "secure" in lb.get("/login", headers=https).headers["set-cookie"].lower()
    with httpx.Client(base_url=frontend, transport=httpx.HTTPTransport(local_address="127.0.0.4")) as other:
        assert "secure" not in other.get("/login", headers=https).headers["set-cookie"].lower()


def test_a_frontend_killed_under_traffic_is_routed_around(full: FullTopology) -> None:
    results: list[tuple[float, int | str]] = []
    stop = threading.Event()

    def loop() -> None:
        with client(full) as http:
            sign_up(http)
            while not stop.is_set():
                try:
                    status: int | str = http.get("/api/auth/me").status_code
                except httpx.HTTPError as error:
                    status = repr(error)
                results.append((time.monotonic(), status))

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        eventually(lambda: len(results) > 20, timeout=60, what="requests flowing")
        killed_at = time.monotonic()
        full.stack.services["frontend-1"].kill()
        eventually(lambda: results[-1][0] > killed_at + 4 and len(results) > 40, timeout=60)
    finally:
        stop.set()
        worker.join(timeout=60)
    failed = [(at - killed_at, status) for at, status in results if status != 200]
    assert not failed, f"requests failed around the kill: {failed}"
    assert sum(1 for at, _ in results if at > killed_at) > 10
    # The supervisor starts it again, and nginx sends it requests again.
    wait_for_port("127.0.0.1", full.config.frontend_ports[0], timeout=90)
    with client(full) as http:
        eventually(
            lambda: (
                {http.get("/healthz").json()["instance"] for _ in range(4)} == {"frontend-1", "frontend-2"}
            ),
            timeout=60,
            what="frontend-1 back behind nginx",
        )


def test_no_acknowledged_upload_is_lost_when_the_primary_dies_and_the_replica_is_promoted(
    full: FullTopology,
) -> None:
    accepted: list[str] = []
    refused: list[int | str] = []
    stop = threading.Event()
    image = image_bytes()

    def uploads() -> None:
        with client(full) as http:
            sign_up(http)
            while not stop.is_set():
                try:
                    response = http.post("/api/uploads", files={"file": ("photo.jpg", image, "image/jpeg")})
                except httpx.HTTPError as error:
                    refused.append(repr(error))
                    continue
                if response.status_code == 202:
                    accepted.append(response.json()["job_id"])
                else:
                    refused.append(response.status_code)

    worker = threading.Thread(target=uploads)
    worker.start()
    try:
        eventually(lambda: len(accepted) >= 5, timeout=90, what="uploads accepted")
        full.postgres.primary.process.kill()
        before_promotion = len(accepted)
        full.postgres.promote()
        eventually(
            lambda: len(accepted) >= before_promotion + 5, timeout=120, what="uploads on the new primary"
        )
    finally:
        stop.set()
        worker.join(timeout=120)
    # Every 202 was committed on both servers: the promoted replica holds every accepted job.
    conninfo = f"host=127.0.0.1 port={full.postgres.replica.port} user=postgres dbname=reencode"
    with psycopg.connect(conninfo) as connection:
        known = {row[0] for row in connection.execute("SELECT id FROM jobs")}
    assert set(accepted) <= known, f"lost: {set(accepted) - known}"
    # The next start makes the promoted server the primary and gives it a new replica.
    full.postgres.stop()
    full.postgres.start()
    # The new replica connects and catches up on its own time.
    eventually(
        full.postgres.is_streaming,
        timeout=60,
        what="the new replica streaming synchronously",
        ignoring=(psycopg.OperationalError,),
    )
    conninfo = f"host=127.0.0.1 port={full.postgres.primary.port} user=postgres dbname=reencode"
    with psycopg.connect(conninfo) as connection:
        assert known <= {row[0] for row in connection.execute("SELECT id FROM jobs")}
