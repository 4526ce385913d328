"""Webhooks end to end: endpoints registered through the API receive signed messages from the webhooks
service; a failing receiver is retried under one webhook-id, a hanging one delays nobody else, a rotated
secret signs the next message, a redelivery sends a message again, and private addresses are refused
when the setting forbids them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from infra.local.processes import wait_for_port
from infra.local.stack import LocalStack
from shared.events import DEAD_LETTERS, WEBHOOK_RETRIES
from tests.eventually import eventually
from tests.system.conftest import Site, read_topic, start_site

#: Short retry delays; a request timeout far longer than the test, so a hanging request stays open.
SERVICE_ENV = {"WEBHOOKS_RETRY_DELAYS_S": "[0.5, 0.5, 0.5, 1]", "WEBHOOKS_REQUEST_TIMEOUT_S": "120"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str

    def verified(self, secret: str) -> dict[str, Any]:
        payload: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return payload


@dataclass
class Receiver:
    """A local HTTP receiver: records every request; some paths fail a few times or hang until released."""

    requests: list[Received] = field(default_factory=list)
    failures_left: dict[str, int] = field(default_factory=dict)
    hanging: set[str] = field(default_factory=set)
    answered: dict[str, int] = field(default_factory=dict)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [request for request in self.requests if request.path == path]

    def answer(self, path: str) -> int:
        if path in self.hanging:
            self.released.wait(timeout=300)
        with self.lock:
            self.answered[path] = self.answered.get(path, 0) + 1
            left = self.failures_left.get(path, 0)
            if left:
                self.failures_left[path] = left - 1
                return 500
        return 204


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(state.answer(self.path))
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site(stack: LocalStack) -> Iterator[Site]:
    """Every service, the webhooks service with short retry delays, one worker, on SQLite."""
    saved = dict(stack.config.service_env)
    stack.config.service_env.update(SERVICE_ENV)
    running = start_site(stack, reencoders=1)
    try:
        yield running
    finally:
        running.http.close()
        stack.stop_services()
        stack.config.service_env = saved


def register(site: Site, url: str, events: list[str]) -> dict[str, Any]:
    response = site.http.post("/api/webhooks", json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert created["secret"].startswith("whsec_")
    return created


def deliveries(site: Site, endpoint_id: str) -> list[dict[str, Any]]:
    response = site.http.get(f"/api/webhooks/{endpoint_id}")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


def test_a_job_end_is_signed_retried_under_one_id_and_a_hanging_receiver_delays_no_one(
    site: Site, receiver: Receiver
) -> None:
    receiver.failures_left["/flaky"] = 3
    receiver.failures_left["/down"] = 1000
    receiver.hanging.add("/hang")
    hang = register(site, receiver.url("/hang"), ["job.done"])
    ok = register(site, receiver.url("/ok"), ["job.done", "media.deleted"])
    flaky = register(site, receiver.url("/flaky"), ["job.done", "job.failed"])
    register(site, receiver.url("/down"), ["job.done"])

    job_id = site.upload_ok()
    site.wait_for(job_id, ("done",))

    message = eventually(lambda: receiver.at("/ok"), what="the job.done message at /ok")[0]
    # Sent while the hanging receiver still holds its first request (its timeout is 120 s away).
    assert len(receiver.at("/hang")) == 1
    assert "/hang" not in receiver.answered
    payload = message.verified(ok["secret"])
    assert payload["type"] == "job.done"
    assert payload["data"]["job_id"] == job_id
    assert payload["data"]["renditions"]

    tries = eventually(
        lambda: receiver.at("/flaky"), until=lambda seen: len(seen) >= 4, what="four tries at /flaky"
    )
    assert len({request.headers["webhook-id"] for request in tries}) == 1
    for request in tries:
        assert request.verified(flaky["secret"])["data"]["job_id"] == job_id
    log = eventually(
        lambda: deliveries(site, flaky["id"]), until=lambda rows: any(row["succeeded"] for row in rows)
    )
    assert sorted((row["attempt"], row["status_code"]) for row in log)[:4] == [
        (1, 500),
        (2, 500),
        (3, 500),
        (4, 204),
    ]
    assert all(row["latency_ms"] >= 0 for row in log)
    profile = site.http.get("/profile")
    assert profile.status_code == 200
    assert receiver.url("/flaky") in profile.text
    assert "failed: HTTP 500" in profile.text

    # A receiver that never answers 2xx: five tries (one plus four retries), then a dead letter.
    letters = eventually(
        lambda: [
            letter
            for letter in read_topic(site.stack, DEAD_LETTERS, timeout=1)
            if letter.source_topic == WEBHOOK_RETRIES[-1].name
        ],
        what="the dead letter of the /down endpoint's message",
    )
    assert "failed 5 tries, the last: HTTP 500" in letters[-1].reason
    assert len(receiver.at("/down")) >= 5  # more only if Kafka redelivered a record (at least once)

    receiver.released.set()
    eventually(lambda: deliveries(site, hang["id"]), what="the hanging receiver's attempt recorded")


def test_a_rotated_secret_signs_the_next_message_and_redelivery_sends_it_again(
    site: Site, receiver: Receiver
) -> None:
    [ok] = [e for e in site.http.get("/api/webhooks").json()["endpoints"] if e["url"].endswith("/ok")]
    old = site.http.post(f"/api/webhooks/{ok['id']}/rotate-secret")
    rotated = site.http.post(f"/api/webhooks/{ok['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["secret"]
    assert secret != old.json()["secret"]

    job_id = site.upload_ok()
    site.wait_for(job_id, ("done",))
    deleted = site.http.delete(f"/api/jobs/{job_id}")
    assert deleted.status_code == 204, deleted.text

    def deletions() -> list[Received]:
        return [r for r in receiver.at("/ok") if json.loads(r.body)["type"] == "media.deleted"]

    [first] = eventually(deletions, what="the media.deleted message at /ok")
    assert first.verified(secret)["data"]["job_id"] == job_id
    with pytest.raises(WebhookVerificationError):
        first.verified(old.json()["secret"])

    [attempt] = [row for row in deliveries(site, ok["id"]) if row["event_type"] == "media.deleted"]
    again = site.http.post(f"/api/webhooks/{ok['id']}/deliveries/{attempt['id']}/redeliver")
    assert again.status_code == 202, again.text
    twice = eventually(deletions, until=lambda seen: len(seen) == 2, what="the redelivered message")
    assert twice[1].headers["webhook-id"] == first.headers["webhook-id"]
    assert twice[1].verified(secret)["data"]["job_id"] == job_id

    assert site.http.delete(f"/api/webhooks/{ok['id']}").status_code == 204
    assert site.http.get(f"/api/webhooks/{ok['id']}").status_code == 404


def test_private_addresses_are_refused_when_the_setting_forbids_them(site: Site, stack: LocalStack) -> None:
    stack.stop_service("frontend")
    stack.start_service("frontend", "services.frontend", {"WEBHOOKS_ALLOW_PRIVATE_TARGETS": "false"})
    wait_for_port("127.0.0.1", stack.config.frontend_port, timeout=60, process=stack.services["frontend"])
    for url, kind in [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://10.0.0.7/hook", "private"),
        ("http://localhost/hook", "loopback"),
    ]:
        refused = site.http.post("/api/webhooks", json={"url": url, "events": ["job.done"]})
        assert refused.status_code == 422, refused.text
        assert kind in refused.json()["detail"]
