"""The site's services running as real processes on the session's Kafka and MinIO."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from infra.local.postgres import PostgresServer
from infra.local.stack import LocalStack
from shared.events import E, Topic, new_id
from shared.kafka.clients import admin_client, kafka_consumer
from shared.kafka.cluster import describe_group
from shared.settings import KafkaSettings
from shared.storage import MediaStore
from tests.api_client import sign_up
from tests.eventually import eventually, eventually_async
from tests.media_samples import image_bytes

TERMINAL = ("done", "failed")
SYSTEM_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a system test, so `-m "not system"` leaves them all out."""
    for item in items:
        if SYSTEM_TESTS in item.path.parents:
            item.add_marker(pytest.mark.system)


@dataclass
class Site:
    """A running site: its stack, an HTTP client on the frontend, and its storage."""

    stack: LocalStack
    http: httpx.Client

    @property
    def store(self) -> MediaStore:
        return MediaStore(self.stack.config.storage)

    def sign_up(self) -> str:
        """Register a new user and make them this client's caller; returns the user id."""
        return sign_up(self.http)

    def another_user(self) -> Site:
        """A second client of the same site, signed in as a different user."""
        other = Site(self.stack, site_client(self.stack))
        other.sign_up()
        return other

    def upload(
        self, data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg"
    ) -> httpx.Response:
        return self.http.post("/api/uploads", files={"file": (filename, data, content_type)})

    def upload_ok(self, data: bytes | None = None, filename: str = "photo.jpg") -> str:
        response = self.upload(data if data is not None else image_bytes(), filename)
        assert response.status_code == 202, response.text
        job_id: str = response.json()["job_id"]
        return job_id

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job

    def wait_for(
        self, job_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 60
    ) -> dict[str, Any]:
        return eventually(
            lambda: self.job(job_id),
            until=lambda job: job["status"] in statuses,
            timeout=timeout,
            interval=0.1,
            what=f"job {job_id} {' or '.join(statuses)}",
        )

    def wait_for_group(self, group: str, members: int, timeout: float = 60) -> None:
        """Until `group` has exactly `members` members with assignments (no rebalance pending)."""
        asyncio.run(_wait_for_group(self.stack.config.kafka, group, members, timeout))


def site_client(stack: LocalStack) -> httpx.Client:
    """A client of the site's frontend that follows redirects, as a browser does: downloads are
    redirects to presigned storage URLs."""
    return httpx.Client(base_url=stack.config.frontend_url, timeout=30, follow_redirects=True)


def start_site(stack: LocalStack, reencoders: int, database_url: str | None = None) -> Site:
    stack.config.database_url = database_url
    stack.start_services(reencoders=reencoders)
    site = Site(stack, site_client(stack))
    site.sign_up()
    return site


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, stack: LocalStack) -> Iterator[Site]:
    """Frontend, metrics, monitoring and two workers, on SQLite and then on PostgreSQL."""
    url = None
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        name = f"site_{new_id()[:12]}"
        server.create_database(name)
        url = server.url(name)
    running = start_site(stack, reencoders=2, database_url=url)
    try:
        yield running
    finally:
        running.http.close()
        stack.stop_services()


@pytest.fixture(scope="module")
def small_site(stack: LocalStack) -> Iterator[Site]:
    """Every service and one worker, on SQLite: for tests about what the site shows, not the database."""
    running = start_site(stack, reencoders=1)
    try:
        yield running
    finally:
        running.http.close()
        stack.stop_services()


@pytest.fixture
def bare_site(stack: LocalStack) -> Iterator[Site]:
    """Frontend and friends without workers: the test starts (and kills) its own."""
    running = start_site(stack, reencoders=0, database_url=None)
    try:
        yield running
    finally:
        running.http.close()
        stack.stop_services()


async def _wait_for_group(kafka: KafkaSettings, group_id: str, members: int, within_s: float) -> None:
    async with admin_client(kafka, client_id="tests") as admin:

        async def state_and_members() -> tuple[str, int]:
            group = await describe_group(admin, group_id)
            return group.state, len(group.members)

        await eventually_async(
            state_and_members,
            until=lambda seen: seen == ("Stable", members),
            timeout=within_s,
            interval=0.25,
            what=f"group {group_id} Stable with {members} members",
        )


def read_topic(stack: LocalStack, topic: Topic[E], timeout: float = 5.0) -> list[E]:
    """Every valid event on `topic` from the beginning (a group-less reader, like an operator's tail)."""

    async def read() -> list[E]:
        consumer = kafka_consumer(stack.config.kafka, topic.name, group_id=None, auto_offset_reset="earliest")
        await consumer.start()
        events: list[E] = []
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=int(timeout * 1000))
                if not batch:
                    return events
                for records in batch.values():
                    for record in records:
                        # Poison messages other tests wrote on purpose are skipped.
                        with contextlib.suppress(ValidationError):
                            events.append(topic.event_type.model_validate_json(record.value))
        finally:
            await consumer.stop()

    return asyncio.run(read())


def grant_operator(stack: LocalStack, username: str) -> None:
    """`reencode users grant-operator NAME` against the site's database, as an administrator would."""
    done = subprocess.run(
        [sys.executable, "-m", "infra.local", "users", "grant-operator", username],
        env=stack.environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
