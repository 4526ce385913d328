"""Anonymous and hostile clients cannot spend the site's disk, memory or CPU.

On the real frontend: an anonymous upload is answered 401 before its body is sent; a chunked body is
cut at its route's limit; a multipart part-count bomb, uploads past the user's stored-bytes quota,
too many uploads at once and endless retries are refused with a reason; clicks need a signed-in
caller.
"""

from __future__ import annotations

import json
import re
import select
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from infra.local.stack import LocalStack
from tests.eventually import eventually
from tests.media_samples import image_bytes, truncated
from tests.system.conftest import Site, start_site

QUOTA_BYTES = 3 * 1024 * 1024
TIGHT_ENV = {
    "FRONTEND_STORED_BYTES_PER_USER": str(QUOTA_BYTES),
    "FRONTEND_UPLOADS_IN_FLIGHT_PER_USER": "1",
    "FRONTEND_RETRIES_PER_JOB": "1",
}


@pytest.fixture(scope="module")
def tight_site(stack: LocalStack) -> Iterator[Site]:
    """Every service and one worker, with a small quota, one upload at a time and one retry."""
    saved = dict(stack.config.service_env)
    stack.config.service_env = saved | TIGHT_ENV
    running = start_site(stack, reencoders=1)
    try:
        yield running
    finally:
        running.http.close()
        stack.stop_services()
        stack.config.service_env = saved


def _open_upload(site: Site, announced: int, headers: dict[str, str]) -> socket.socket:
    """A raw connection that announces an upload of `announced` bytes and sends only its start."""
    address = urlsplit(site.stack.config.frontend_url)
    connection = socket.create_connection((address.hostname, address.port), timeout=30)
    lines = [
        "POST /api/uploads HTTP/1.1",
        f"Host: {address.hostname}",
        "Content-Type: multipart/form-data; boundary=xyz",
        f"Content-Length: {announced}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    preamble = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff"
    )
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + preamble + b"0" * 64 * 1024)
    return connection


def _answered(connection: socket.socket) -> bool:
    """Whether the server has already answered (or closed) on `connection`, without reading it."""
    readable, _, _ = select.select([connection], [], [], 0)
    return bool(readable)


def _response_head(connection: socket.socket) -> tuple[int, str]:
    """The status and the whole response (its head, then its body up to Content-Length: the two may
    arrive in separate packets)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    while length is not None and len(rest) < int(length.group(1)):
        chunk = connection.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(head.split()[1]), (head + b"\r\n\r\n" + rest).decode("latin-1")


def test_an_anonymous_upload_is_refused_before_its_body_is_sent(tight_site: Site) -> None:
    # 10 MiB announced, 64 KiB sent: the answer comes while the client still has almost all to send.
    connection = _open_upload(tight_site, 10 * 1024 * 1024, {})
    try:
        status, text = _response_head(connection)
    finally:
        connection.close()
    assert status == 401, text
    assert "sign in" in text


def test_a_chunked_body_over_the_routes_limit_is_cut_with_413(tight_site: Site) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"username": "chunky", "email": "c@example.org", "password": "'
        for _ in range(80):  # 5 MiB without a Content-Length
            yield b"x" * 65536
        yield b'"}'

    with httpx.Client(base_url=tight_site.stack.config.frontend_url, timeout=30) as anonymous:
        response = anonymous.post(
            "/api/auth/register", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413, response.text
    assert "limit" in response.json()["detail"]


def test_a_part_count_bomb_is_refused(tight_site: Site) -> None:
    body = b"".join(
        b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % index for index in range(300)
    )
    body += b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    body += image_bytes() + b"\r\n--b--\r\n"
    response = tight_site.http.post(
        "/api/uploads", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 413, response.text
    assert "parts" in response.json()["detail"]


def test_a_second_upload_at_once_is_429_and_the_quota_is_413(tight_site: Site) -> None:
    other = tight_site.another_user()
    try:
        token = str(other.http.headers["Authorization"])
        # One upload in flight (announced, half sent) holds the user's only slot. A probe sent at the
        # same moment may hold it for an instant first, and the held upload is then the one refused:
        # open it again until it is the holder. Probes are text files, refused for what they are when
        # the slot is free, so probing stores nothing and spends none of the quota measured below.
        held = _open_upload(other, 1024 * 1024, {"Authorization": token})
        try:

            def probe() -> httpx.Response:
                nonlocal held
                if _answered(held):  # refused: it met a probe in the slot
                    held.close()
                    held = _open_upload(other, 1024 * 1024, {"Authorization": token})
                return other.upload(b"not a picture\n", "second.txt", "text/plain")

            busy = eventually(
                probe,
                until=lambda response: response.status_code == 429,
                timeout=20,
                interval=0.2,
                what="a second upload at once refused",
            )
        finally:
            held.close()
        assert busy.status_code == 429, busy.text
        assert "already sending" in busy.json()["detail"]

        big = image_bytes(1600, 1200, "PNG")
        assert len(big) < QUOTA_BYTES
        while len(big) * 2 < QUOTA_BYTES:  # two of these do not fit the quota
            big += b"\0" * len(big)
        # The held upload's slot is free once the frontend has seen its connection close.
        first = eventually(
            lambda: other.upload(big, "first.png", "image/png"),
            until=lambda response: response.status_code != 429,
            timeout=20,
            interval=0.2,
            what="the slot of the closed upload freed",
        )
        assert first.status_code == 202, first.text
        over = other.upload(big, "again.png", "image/png")
        assert over.status_code == 413, over.text
        assert "delete some uploads" in over.json()["detail"]
    finally:
        other.http.close()


def test_a_failed_job_is_retried_only_so_often(tight_site: Site) -> None:
    failed = tight_site.wait_for(tight_site.upload_ok(truncated(image_bytes(900, 700, "PNG")), "broken.png"))
    assert failed["status"] == "failed"
    retried = tight_site.http.post(f"/api/jobs/{failed['job_id']}/retry")
    assert retried.status_code == 202, retried.text
    again = tight_site.wait_for(retried.json()["job_id"])
    assert again["status"] == "failed"
    for job_id in (failed["job_id"], again["job_id"]):
        refused = tight_site.http.post(f"/api/jobs/{job_id}/retry")
        assert refused.status_code == 409, refused.text
        assert "retried 1 times already" in refused.json()["detail"]


def test_clicks_need_a_signed_in_caller_and_a_short_link(tight_site: Site) -> None:
    with httpx.Client(base_url=tight_site.stack.config.frontend_url, timeout=30) as anonymous:
        assert anonymous.post("/api/clicks", json={"link": "/docs", "page": "/"}).status_code == 401
    assert tight_site.http.post("/api/clicks", json={"link": "/" + "a" * 300}).status_code == 422
    assert tight_site.http.post("/api/clicks", json={"link": "/docs", "page": "/"}).status_code == 202
    assert json.loads(tight_site.http.post("/api/clicks", json={"link": "/docs"}).text) == {"accepted": True}
