"""Stopping and starting the whole local stack keeps uploads, jobs and Kafka data."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.stack import LocalStack, StackConfig
from tests.conftest import CACHE_DIR
from tests.media_samples import image_bytes
from tests.system.conftest import Site, site_client


@pytest.fixture
def own_stack(tmp_path: Path, stack: LocalStack) -> Iterator[LocalStack]:
    # Its own Kafka and MinIO (the session's keep running), stopped and started by the test.
    del stack  # requested only so that the session's servers exist first and ports do not clash
    config = StackConfig.on_free_ports(tmp_path / "state", CACHE_DIR)
    config.reencoders = 1
    local = LocalStack(config)
    try:
        yield local
    finally:
        local.stop()


def _up(stack: LocalStack, authorization: str | None = None) -> Site:
    stack.start_infrastructure()
    stack.start_services()
    site = Site(stack, site_client(stack))
    if authorization is None:
        site.sign_up()
    else:
        site.http.headers["Authorization"] = authorization
    return site


def test_restart_of_the_whole_stack_keeps_data(own_stack: LocalStack) -> None:
    site = _up(own_stack)
    first = site.wait_for(site.upload_ok(image_bytes(), "before.jpg"))
    assert first["status"] == "done"
    authorization = site.http.headers["Authorization"]
    site.http.close()
    own_stack.stop()

    # The account and its token live in the database, so they survive the restart too.
    site = _up(own_stack, authorization)
    again = site.job(first["job_id"])
    assert again["status"] == "done"
    assert again["renditions"] == first["renditions"]
    download = site.http.get(first["renditions"][0]["url"])
    assert download.status_code == 200
    assert len(download.content) == first["renditions"][0]["bytes"]

    second = site.wait_for(site.upload_ok(image_bytes(), "after.jpg"))
    assert second["status"] == "done"
    listing = site.http.get("/api/jobs").json()
    assert [job["filename"] for job in listing["jobs"]] == ["after.jpg", "before.jpg"]
    site.http.close()


def test_services_stop_cleanly_even_when_kafka_is_gone_first(own_stack: LocalStack) -> None:
    """Unflushed messages and uncommitted offsets are retried by design, so a service whose brokers
    vanished still exits with 0 in bounded time instead of hanging on the dead cluster."""
    site = _up(own_stack)
    assert site.wait_for(site.upload_ok(image_bytes(), "last.jpg"))["status"] == "done"
    site.http.close()
    assert own_stack.kafka is not None
    own_stack.kafka.stop()
    services = dict(own_stack.services)
    own_stack.stop_services()
    # 0, or SIGTERM re-raised by uvicorn once its shutdown completed; never SIGKILL (a hang).
    clean = {0, -signal.SIGTERM}
    hung = {name: p.returncode for name, p in services.items() if p.returncode not in clean}
    assert hung == {}, "\n".join(f"{name}:\n{services[name].log_tail(60)}" for name in hung)
    for name in ("frontend", "metrics", "monitoring"):
        assert "Application shutdown complete" in (own_stack.logs_dir / f"{name}.log").read_text()
