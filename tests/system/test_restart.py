"""Stopping and starting the whole local stack keeps uploads, jobs and Kafka data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.stack import LocalStack, StackConfig
from tests.conftest import CACHE_DIR
from tests.media_samples import image_bytes
from tests.system.conftest import Site


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


def _up(stack: LocalStack) -> Site:
    stack.start_infrastructure()
    stack.start_services()
    return Site(stack, httpx.Client(base_url=stack.config.frontend_url, timeout=30))


def test_restart_of_the_whole_stack_keeps_data(own_stack: LocalStack) -> None:
    site = _up(own_stack)
    first = site.wait_for(site.upload_ok(image_bytes(), "before.jpg"))
    assert first["status"] == "done"
    site.http.close()
    own_stack.stop()

    site = _up(own_stack)
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
