"""Uploads through the public HTTP API to renditions in storage, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import io

import pytest
from aiokafka import AIOKafkaProducer
from PIL import Image
from sqlalchemy import create_engine, text

from services.reencoder.renditions import IMAGE_LADDER
from shared.events import DEAD_LETTERS, JOBS_REQUESTED, new_id
from tests.media_samples import bomb_png, image_bytes, truncated
from tests.system.conftest import Site, read_topic


def test_uploaded_image_is_reencoded_end_to_end(site: Site) -> None:
    response = site.upload(image_bytes(3000, 2000, orientation=6, with_gps=True), "holiday.jpg")
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert site.job(job_id)["status"] in ("queued", "processing", "done")

    job = site.wait_for(job_id)
    assert job["status"] == "done", job["error"]
    assert job["progress"] == 1.0
    renditions = {r["name"]: r for r in job["renditions"]}
    assert set(renditions) == {spec.name for spec in IMAGE_LADDER}
    # Orientation 6 turns the 3000x2000 sensor image upright: 2000x3000, so the large is 1707x2560.
    assert (renditions["large"]["width"], renditions["large"]["height"]) == (1707, 2560)

    for rendition in renditions.values():
        download = site.http.get(rendition["url"])
        assert download.status_code == 200
        assert download.headers["content-type"] == rendition["content_type"]
        assert len(download.content) == rendition["bytes"]
        with Image.open(io.BytesIO(download.content)) as image:
            assert image.size == (rendition["width"], rendition["height"])
            assert not image.getexif()

    stored = site.store.list_keys(site.store.renditions_bucket, f"{job_id}/")
    assert len(stored) == len(IMAGE_LADDER) + 1  # the renditions and the manifest
    with create_engine(site.stack.config.sqlalchemy_url).connect() as db:
        row = db.execute(text("SELECT status FROM jobs WHERE id = :id"), {"id": job_id}).one()
        assert row.status == "done"
        assert db.execute(
            text("SELECT count(*) FROM renditions WHERE job_id = :id"), {"id": job_id}
        ).scalar() == len(IMAGE_LADDER)


@pytest.mark.parametrize("format", ["PNG", "WEBP", "GIF", "TIFF", "AVIF"])
def test_every_accepted_format_is_reencoded(site: Site, format: str) -> None:
    job_id = site.upload_ok(image_bytes(500, 400, format), f"sample.{format.lower()}")
    job = site.wait_for(job_id)
    assert job["status"] == "done", job["error"]
    assert len(job["renditions"]) == len(IMAGE_LADDER)


def test_correlation_id_of_the_request_follows_the_job(site: Site) -> None:
    correlation_id = new_id()
    response = site.http.post(
        "/api/uploads",
        files={"file": ("c.jpg", image_bytes(), "image/jpeg")},
        headers={"X-Correlation-ID": correlation_id},
    )
    assert response.headers["X-Correlation-ID"] == correlation_id
    site.wait_for(response.json()["job_id"])
    requested = [
        e for e in read_topic(site.stack, JOBS_REQUESTED, 2) if e.job_id == response.json()["job_id"]
    ]
    assert [e.correlation_id for e in requested] == [correlation_id]
    worker_log = "".join(
        path.read_text() for path in site.stack.logs_dir.glob("reencoder-*.log") if path.exists()
    )
    assert correlation_id in worker_log


def test_a_file_that_is_not_an_image_is_refused(site: Site) -> None:
    response = site.upload(b"%PDF-1.7 definitely not an image\n" * 100, "report.jpg")
    assert response.status_code == 415
    assert "not a supported image" in response.json()["detail"]


def test_a_truncated_image_ends_as_a_failed_job_with_a_reason(site: Site) -> None:
    job_id = site.upload_ok(truncated(image_bytes(1200, 900, "PNG")), "broken.png")
    job = site.wait_for(job_id)
    assert job["status"] == "failed"
    assert "truncated or corrupt" in job["error"]
    assert job["renditions"] == []


def test_a_decompression_bomb_is_refused_before_decoding(site: Site) -> None:
    response = site.upload(bomb_png(), "bomb.png", "image/png")
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_a_file_over_the_size_limit_is_refused(site: Site) -> None:
    response = site.upload(b"\xff\xd8\xff" + b"0" * (21 * 1024 * 1024), "huge.jpg")
    assert response.status_code == 413
    assert "over the limit" in response.json()["detail"]


@pytest.mark.parametrize("name", ["../../etc/passwd", "..\\..\\win.ini", "a/b.jpg"])
def test_a_file_name_with_a_path_is_refused(site: Site, name: str) -> None:
    response = site.upload(image_bytes(), name)
    assert response.status_code == 400
    assert "path" in response.json()["detail"]


def test_an_empty_file_is_refused(site: Site) -> None:
    response = site.upload(b"", "empty.jpg")
    assert response.status_code == 400
    assert response.json()["detail"] == "the file is empty"


def test_an_unknown_job_is_a_404(site: Site) -> None:
    response = site.http.get("/api/jobs/does-not-exist")
    assert response.status_code == 404
    assert "no job" in response.json()["detail"]


def test_a_poison_message_is_dead_lettered_and_the_workers_go_on(site: Site) -> None:
    marker = new_id()

    async def produce_garbage() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=site.stack.config.kafka.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(JOBS_REQUESTED.name, f'{{"garbage": "{marker}"}}'.encode())
            await producer.send_and_wait(JOBS_REQUESTED.name, b"\x00\x01 not json " + marker.encode())
        finally:
            await producer.stop()

    asyncio.run(produce_garbage())
    job = site.wait_for(site.upload_ok())
    assert job["status"] == "done"

    letters = [d for d in read_topic(site.stack, DEAD_LETTERS, 3) if marker.encode() in d.payload_bytes()]
    # Every group reading the topic gives up on its own and says so: the workers and the metrics.
    by_group = {
        group: [d for d in letters if d.consumer_group == group] for group in ("reencoder", "metrics")
    }
    assert [len(group) for group in by_group.values()] == [2, 2]
    assert all(d.source_topic == JOBS_REQUESTED.name for d in letters)
    assert all(d.reason.startswith("invalid JobRequested") for d in letters)


def test_the_site_serves_its_page_docs_and_health(site: Site) -> None:
    assert "reencode" in site.http.get("/").text
    assert site.http.get("/docs").status_code == 200
    paths = site.http.get("/openapi.json").json()["paths"]
    assert {"/api/uploads", "/api/jobs/{job_id}", "/healthz"} <= set(paths)
    assert site.http.get("/healthz").json()["status"] == "ok"
