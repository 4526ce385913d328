"""The sender checks the address again at delivery, follows no redirect, and gives up at its timeout."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from services.webhooks.sender import WebhookSender
from shared.webhooks.messages import new_secret
from shared.webhooks.settings import WebhookSettings


class Server:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self.verified: list[object] = []
        self.secret = new_secret()
        self.release = threading.Event()


@pytest.fixture
def server() -> Iterator[tuple[Server, int]]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"])).decode()
            state.paths.append(self.path)
            if self.path == "/slow":
                state.release.wait(10)
            if self.path == "/moved":
                self.send_response(307)
                self.send_header("location", "/ok")
            else:
                state.verified.append(Webhook(state.secret).verify(body, dict(self.headers.items())))
                self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield state, httpd.server_address[1]
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()


def send(settings: WebhookSettings, url: str, secret: str) -> tuple[int | None, str | None]:
    async def go() -> tuple[int | None, str | None]:
        sender = WebhookSender(settings)
        try:
            outcome = await sender.send("e1", url, secret, "msg_1", '{"type":"job.done"}')
        finally:
            await sender.aclose()
        return outcome.status_code, outcome.error

    return asyncio.run(go())


def test_a_loopback_receiver_is_refused_at_delivery_without_a_connection(server: tuple[Server, int]) -> None:
    state, port = server
    status, error = send(
        WebhookSettings(allow_private_targets=False), f"http://127.0.0.1:{port}/ok", state.secret
    )
    assert status is None
    assert error is not None
    assert "loopback" in error
    assert state.paths == []


def test_a_signed_delivery_verifies_and_a_redirect_is_not_followed(server: tuple[Server, int]) -> None:
    state, port = server
    allowed = WebhookSettings(allow_private_targets=True)
    assert send(allowed, f"http://localhost:{port}/ok", state.secret) == (200, None)
    assert state.verified == [{"type": "job.done"}]
    status, error = send(allowed, f"http://127.0.0.1:{port}/moved", state.secret)
    assert status == 307
    assert error is not None
    assert "not followed" in error
    assert state.paths == ["/ok", "/moved"]


def test_a_receiver_that_does_not_answer_in_time_fails_the_try(server: tuple[Server, int]) -> None:
    state, port = server
    settings = WebhookSettings(allow_private_targets=True, request_timeout_s=0.3)
    status, error = send(settings, f"http://127.0.0.1:{port}/slow", state.secret)
    assert status is None
    assert error == "no answer within 0.3 s"
