"""Slow clients (slowloris) cannot hold a frontend's connection or its disk.

A frontend of the session's stack with short deadlines (2 s for headers and for a stalled body): a
connection that sends half its headers and stalls is answered 408 and closed; an upload whose body
stalls mid-way is answered 408, and the frontend keeps no spooled bytes of it and made no job.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra.local.processes import ManagedProcess, free_port, wait_for_port
from infra.local.stack import LocalStack
from tests.api_client import sign_up
from tests.eventually import eventually
from tests.system.test_hostile_clients import _response_head

NAME = "frontend-slow-clients"


@dataclass
class SlowFrontend:
    port: int
    process: ManagedProcess
    spool_dir: Path

    def connect(self) -> socket.socket:
        # Far longer than the frontend's deadlines: the server, not this timeout, ends the wait.
        return socket.create_connection(("127.0.0.1", self.port), timeout=60)

    def spooled_files(self) -> list[str]:
        """What the frontend holds open in its spool folder (spools are unlinked at once on Linux,
        so the folder looks empty while they exist: the process's descriptors tell)."""
        fds = Path(f"/proc/{self.process.pid}/fd")
        held = []
        for fd in fds.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:  # closed meanwhile
                continue
            if target.startswith(str(self.spool_dir)):
                held.append(target)
        return held


@pytest.fixture(scope="module")
def slow_frontend(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlowFrontend]:
    port, spool_dir = free_port(), tmp_path_factory.mktemp("spool")
    env = {
        "FRONTEND_PORT": str(port),
        "FRONTEND_HEADER_TIMEOUT_S": "2",
        "FRONTEND_BODY_IDLE_TIMEOUT_S": "2",
        "TMPDIR": str(spool_dir),
    }
    process = stack.start_service(NAME, "services.frontend", env)
    try:
        wait_for_port("127.0.0.1", port, timeout=90, process=process)
        yield SlowFrontend(port, process, spool_dir)
    finally:
        stack.stop_service(NAME)


def test_a_client_that_stalls_in_its_headers_is_answered_408_and_disconnected(
    slow_frontend: SlowFrontend,
) -> None:
    with slow_frontend.connect() as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slo")
        status, response = _response_head(connection)
        assert status == 408, response
        assert connection.recv(1024) == b"", "the connection stays open"


def test_an_upload_that_stalls_mid_body_is_408_and_leaves_no_spool_and_no_job(
    slow_frontend: SlowFrontend,
) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{slow_frontend.port}", timeout=30) as http:
        sign_up(http)
        token = str(http.headers["Authorization"])
        preamble = (
            b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="slow.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff"
        )
        sent = preamble + b"0" * (3 * 1024 * 1024 // 2)  # past the in-memory part: on disk
        head = (
            "POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: multipart/form-data; boundary=xyz\r\n"
            f"Content-Length: {len(sent) * 2}\r\nAuthorization: {token}\r\n\r\n"
        )
        with slow_frontend.connect() as connection:
            connection.sendall(head.encode() + sent)
            status, response = _response_head(connection)
        assert status == 408, response
        assert "stalled" in response
        eventually(
            slow_frontend.spooled_files,
            until=lambda held: held == [],
            timeout=30,
            what="no spooled bytes left open",
        )
        jobs = http.get("/api/jobs").json()
        assert jobs["total"] == 0, jobs
