"""Direct, resumable uploads against the real frontend, MinIO and Kafka (POST /api/uploads/multipart).

The site decides and signs; the test PUTs the parts to MinIO itself, as a browser does, or runs
`reencode upload`, killed half-way and run again.
MinIO's own notification on `storage.events` and the client's `complete` both try to queue the job:
exactly one request reaches the workers.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.stack import LocalStack
from infra.ops.upload import KILL_AFTER_PARTS_ENV
from services.frontend.accounts.pages import FORM_CSRF_COOKIE
from shared.events import JOBS_REQUESTED
from tests.api_client import TEST_PASSWORD
from tests.media_samples import image_bytes
from tests.system.conftest import Site, read_topic, start_site
from tests.video_samples import video_bytes

MIB = 1024 * 1024
PART = 5 * MIB
GIB = 1024 * MIB
#: Room for the 1 GiB file `reencode upload` sends, and the smaller uploads of the other tests.
QUOTA = 2 * GIB
DIRECT_ENV = {"DIRECT_UPLOADS_PART_BYTES": str(PART), "FRONTEND_STORED_BYTES_PER_USER": str(QUOTA)}


@pytest.fixture(scope="module")
def direct_site(stack: LocalStack) -> Iterator[Site]:
    """Every service and one worker; 5 MiB parts and a 2 GiB quota."""
    saved = dict(stack.config.service_env)
    stack.config.service_env = saved | DIRECT_ENV
    running = start_site(stack, reencoders=1)
    try:
        yield running
    finally:
        running.http.close()
        stack.stop_services()
        stack.config.service_env = saved


def padded_jpeg(size: int) -> bytes:
    """A real JPEG followed by filler up to `size` bytes (decoders stop at its end marker)."""
    picture = image_bytes(320, 240)
    return picture + os.urandom(size - len(picture))


def start(site: Site, data: bytes, content_type: str = "image/jpeg", **extra: Any) -> dict[str, Any]:
    body = {"filename": "big.jpg", "size": len(data), "content_type": content_type} | extra
    response = site.http.post("/api/uploads/multipart", json=body)
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


def send_parts(site: Site, job_id: str, data: bytes, numbers: list[int]) -> list[dict[str, Any]]:
    """PUT parts `numbers` of `data` to storage with presigned URLs; returns [{part_number, etag}]."""
    signed = site.http.post(f"/api/uploads/multipart/{job_id}/parts/sign", json={"part_numbers": numbers})
    assert signed.status_code == 200, signed.text
    sent = []
    for number in numbers:
        url = signed.json()["urls"][str(number)]
        put = httpx.put(url, content=data[(number - 1) * PART : number * PART], timeout=60)
        assert put.status_code == 200, put.text
        sent.append({"part_number": number, "etag": put.headers["ETag"]})
    return sent


def stored_parts(site: Site, job_id: str) -> list[dict[str, Any]]:
    listed = site.http.get(f"/api/uploads/multipart/{job_id}/parts")
    assert listed.status_code == 200, listed.text
    parts: list[dict[str, Any]] = listed.json()["parts"]
    return parts


def test_a_direct_upload_resumes_from_the_parts_stored_and_its_job_ends_done(direct_site: Site) -> None:
    data = padded_jpeg(12 * MIB)
    started = start(direct_site, data)
    job_id = started["job_id"]
    # The key is the job's own (a client cannot name one): no key outside the caller's upload exists.
    assert started["key"] == f"{job_id}/original"
    assert (started["part_size"], started["part_count"]) == (PART, 3)
    assert direct_site.job(job_id)["status"] == "uploading"

    send_parts(direct_site, job_id, data, [1])
    # The client "crashes" and lost its state: what storage holds tells it what is left to send.
    assert [p["part_number"] for p in stored_parts(direct_site, job_id)] == [1]
    send_parts(direct_site, job_id, data, [2, 3])
    parts = [{"part_number": p["part_number"], "etag": p["etag"]} for p in stored_parts(direct_site, job_id)]
    assert [p["size"] for p in stored_parts(direct_site, job_id)] == [PART, PART, len(data) - 2 * PART]

    completed = direct_site.http.post(f"/api/uploads/multipart/{job_id}/complete", json={"parts": parts})
    assert completed.status_code == 202, completed.text
    assert completed.json()["status"] in ("queued", "processing", "done")
    job = direct_site.wait_for(job_id)
    assert job["status"] == "done", job
    assert job["size_bytes"] == len(data)


def test_another_user_gets_404_for_every_call_on_my_upload(direct_site: Site) -> None:
    data = padded_jpeg(PART + 1000)
    job_id = start(direct_site, data)["job_id"]
    other = direct_site.another_user()
    try:
        base = f"/api/uploads/multipart/{job_id}"
        answers = [
            other.http.get(f"{base}/parts"),
            other.http.post(f"{base}/parts/sign", json={"part_numbers": [1]}),
            other.http.post(f"{base}/complete", json={"parts": [{"part_number": 1, "etag": "x"}]}),
            other.http.delete(base),
        ]
        assert [a.status_code for a in answers] == [404] * 4, [a.text for a in answers]
    finally:
        other.http.close()
    # Mine still: cancelling it removes the job.
    assert direct_site.http.delete(f"/api/uploads/multipart/{job_id}").status_code == 204
    assert direct_site.http.get(f"/api/jobs/{job_id}").status_code == 404


def test_deleting_the_job_of_an_upload_under_way_aborts_it_in_storage(direct_site: Site) -> None:
    data = padded_jpeg(PART + 1000)
    job_id = start(direct_site, data)["job_id"]
    send_parts(direct_site, job_id, data, [1])
    signed = direct_site.http.post(f"/api/uploads/multipart/{job_id}/parts/sign", json={"part_numbers": [2]})
    assert signed.status_code == 200, signed.text

    deleted = direct_site.http.delete(f"/api/jobs/{job_id}")
    assert deleted.status_code == 204, deleted.text
    assert direct_site.http.get(f"/api/jobs/{job_id}").status_code == 404
    store = direct_site.store
    assert store.multipart.open_uploads(f"{job_id}/original") == []
    # A part URL handed out before can no longer store anything.
    late = httpx.put(signed.json()["urls"]["2"], content=data[PART:], timeout=60)
    assert late.status_code == 404, late.text
    assert "NoSuchUpload" in late.text


def test_a_part_url_takes_exactly_its_parts_length_and_nothing_more(direct_site: Site) -> None:
    data = padded_jpeg(2 * PART)
    job_id = start(direct_site, data)["job_id"]
    sign = f"/api/uploads/multipart/{job_id}/parts/sign"
    url = direct_site.http.post(sign, json={"part_numbers": [1]}).json()["urls"]["1"]
    # The length is signed into the URL: a larger body is refused and nothing is stored.
    larger = httpx.put(url, content=data[:PART] + b"more", timeout=60)
    assert larger.status_code == 403, larger.text
    assert stored_parts(direct_site, job_id) == []
    assert httpx.put(url, content=data[:PART], timeout=60).status_code == 200
    # A client may declare its own part size, within storage's bounds.
    refused = direct_site.http.post(sign, json={"part_numbers": [1], "part_size": MIB})
    assert refused.status_code == 400, refused.text
    assert "at least" in refused.json()["detail"]
    own = direct_site.http.post(sign, json={"part_numbers": [2], "part_size": PART + MIB})
    assert own.status_code == 200, own.text
    last = httpx.put(own.json()["urls"]["2"], content=data[PART + MIB :], timeout=60)
    assert last.status_code == 200, last.text
    assert direct_site.http.delete(f"/api/uploads/multipart/{job_id}").status_code == 204


def test_a_part_url_cannot_store_under_a_key_outside_the_callers_upload(direct_site: Site) -> None:
    data = padded_jpeg(PART + 1000)
    job_id = start(direct_site, data)["job_id"]
    sign = f"/api/uploads/multipart/{job_id}/parts/sign"
    url = direct_site.http.post(sign, json={"part_numbers": [1]}).json()["urls"]["1"]
    assert f"/{job_id}/original?" in url
    # The key is signed into the URL: pointed at another prefix, storage refuses it.
    elsewhere = url.replace(f"/{job_id}/original?", "/someone-else/original?")
    refused = httpx.put(elsewhere, content=data[:PART], timeout=60)
    assert refused.status_code == 403, refused.text
    store = direct_site.store
    assert store.stat(store.uploads_bucket, "someone-else/original") is None
    assert store.multipart.open_uploads("someone-else/") == []
    assert direct_site.http.delete(f"/api/uploads/multipart/{job_id}").status_code == 204


def signed_in_browser(site: Site) -> httpx.Client:
    """A client signed in through the login form, as a browser is: a session cookie, no token."""
    browser = httpx.Client(base_url=site.stack.config.frontend_url, timeout=30)
    username = f"csrf-{id(browser) % 10**8}"
    registered = browser.post(
        "/api/auth/register",
        json={"username": username, "email": f"{username}@example.org", "password": TEST_PASSWORD},
    )
    assert registered.status_code == 201, registered.text
    browser.get("/login?next=/")
    form = {
        "username": username,
        "password": TEST_PASSWORD,
        "csrf_token": str(browser.cookies.get(FORM_CSRF_COOKIE)),
        "next": "/",
    }
    assert browser.post("/login", data=form, follow_redirects=False).status_code == 303
    return browser


def test_a_cookie_session_needs_its_csrf_token_on_every_unsafe_multipart_call(direct_site: Site) -> None:
    browser = signed_in_browser(direct_site)
    try:
        body = {"filename": "big.jpg", "size": PART + 1000, "content_type": "image/jpeg"}
        assert browser.post("/api/uploads/multipart", json=body).status_code == 403  # a forged request
        csrf = {"X-CSRF-Token": browser.get("/api/auth/me").json()["csrf_token"]}
        started = browser.post("/api/uploads/multipart", json=body, headers=csrf)
        assert started.status_code == 201, started.text
        base = f"/api/uploads/multipart/{started.json()['job_id']}"
        forged = [
            browser.post(f"{base}/parts/sign", json={"part_numbers": [1]}),
            browser.post(f"{base}/complete", json={"parts": [{"part_number": 1, "etag": "x"}]}),
            browser.delete(base),
        ]
        assert [f.status_code for f in forged] == [403] * 3, [f.text for f in forged]
        assert browser.get(f"{base}/parts").status_code == 200  # reading needs no token
        assert browser.delete(base, headers=csrf).status_code == 204
    finally:
        browser.close()


def test_a_key_named_by_the_client_is_refused_before_anything_is_created(direct_site: Site) -> None:
    before = direct_site.http.get("/api/jobs").json()["total"]
    refused = direct_site.http.post(
        "/api/uploads/multipart",
        json={"filename": "a.mp4", "size": 1000, "content_type": "video/mp4", "key": "someone-else/original"},
    )
    assert refused.status_code == 422, refused.text
    assert "key" in refused.text
    assert direct_site.http.get("/api/jobs").json()["total"] == before


def test_an_upload_past_the_quota_is_413_before_anything_is_created(direct_site: Site) -> None:
    before = direct_site.http.get("/api/jobs").json()["total"]
    refused = direct_site.http.post(
        "/api/uploads/multipart",
        json={"filename": "long.mp4", "size": QUOTA + 1, "content_type": "video/mp4"},
    )
    assert refused.status_code == 413, refused.text
    assert "quota" in refused.json()["detail"] or "bytes" in refused.json()["detail"]
    assert direct_site.http.get("/api/jobs").json()["total"] == before


def test_a_stored_object_that_is_not_media_is_deleted_and_its_job_fails_with_the_reason(
    direct_site: Site,
) -> None:
    data = os.urandom(300_000)
    job_id = start(direct_site, data)["job_id"]
    parts = send_parts(direct_site, job_id, data, [1])
    completed = direct_site.http.post(f"/api/uploads/multipart/{job_id}/complete", json={"parts": parts})
    assert completed.status_code == 202, completed.text
    job = direct_site.wait_for(job_id)
    assert job["status"] == "failed"
    assert "not a supported image" in job["error"], job
    store = direct_site.store
    assert store.stat(store.uploads_bucket, f"{job_id}/original") is None


def test_storage_notification_and_complete_queue_the_job_exactly_once(direct_site: Site) -> None:
    data = padded_jpeg(PART + 5000)
    job_id = start(direct_site, data)["job_id"]
    parts = send_parts(direct_site, job_id, data, [1, 2])
    # The client's `complete` reaches storage but its answer is lost: only MinIO's notification of the
    # stored object can queue the job.
    store = direct_site.store
    upload_id = _upload_id(job_id, store)
    store.multipart.complete(f"{job_id}/original", upload_id, [(p["part_number"], p["etag"]) for p in parts])
    direct_site.wait_for(job_id, ("queued", "processing", "done"))
    # The client retries its `complete`: answered 202 with the job, and nothing is queued twice.
    again = direct_site.http.post(f"/api/uploads/multipart/{job_id}/complete", json={"parts": parts})
    assert again.status_code == 202, again.text
    assert direct_site.wait_for(job_id)["status"] == "done"
    requests = [r for r in read_topic(direct_site.stack, JOBS_REQUESTED) if r.job_id == job_id]
    assert len(requests) == 1, requests


def _upload_id(job_id: str, store: Any) -> str:
    """The multipart upload's id, as storage lists it (the API never hands it out)."""
    (upload_id,) = store.multipart.open_uploads(f"{job_id}/original")
    return str(upload_id)


def run_cli(
    site: Site, cache: Path, *args: str, kill_after_parts: int = 0
) -> subprocess.CompletedProcess[str]:
    """`reencode upload ...` as a user runs it, with the site's token in REENCODE_TOKEN."""
    token = str(site.http.headers["Authorization"]).removeprefix("Bearer ")
    env = os.environ | {"REENCODE_TOKEN": token, "XDG_CACHE_HOME": str(cache), "COLUMNS": "200"}
    if kill_after_parts:
        env[KILL_AFTER_PARTS_ENV] = str(kill_after_parts)
    command = [sys.executable, "-m", "infra.local", "upload", "--url", site.stack.config.frontend_url, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def sparse_padded_video(path: Path, size: int) -> None:
    """A `size`-byte MP4 on disk: a short real video, then a top-level `free` box (which players
    skip) whose zeros are a hole in a sparse file, so 1 GiB costs the disk almost nothing here."""
    movie = video_bytes(seconds=2.0, width=160, height=120, audio=False)
    with path.open("wb") as file:
        file.write(movie + struct.pack(">I4s", size - len(movie), b"free"))
        file.truncate(size)


def test_the_cli_killed_half_way_resumes_sending_only_the_missing_parts(
    direct_site: Site, tmp_path: Path
) -> None:
    movie = tmp_path / "holiday.mp4"
    sparse_padded_video(movie, GIB)
    cache = tmp_path / "cache"
    count = -(-GIB // PART)
    job_id = ""
    try:
        # Killed (SIGKILL, like a crash) once half the parts are sent; parts in flight may land too.
        killed = run_cli(direct_site, cache, str(movie), kill_after_parts=count // 2)
        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
        (state_file,) = (cache / "reencode" / "uploads").glob("*.json")
        job_id = json.loads(state_file.read_text())["job_id"]
        stored = len(stored_parts(direct_site, job_id))
        assert count // 2 <= stored <= count * 6 // 10, (stored, count)

        resumed = run_cli(direct_site, cache, str(movie), "--wait")
        output = resumed.stdout + resumed.stderr
        assert resumed.returncode == 0, output
        assert f"sent {count - stored} of {count} parts ({stored} already stored)" in output
        assert f"job {job_id} done" in output
        assert direct_site.job(job_id)["size_bytes"] == GIB
        assert not state_file.exists()
    finally:
        movie.unlink(missing_ok=True)
        # MinIO holds the 1 GiB original: the job goes with it.
        if job_id:
            direct_site.http.delete(f"/api/jobs/{job_id}")
