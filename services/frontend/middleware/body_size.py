"""Cutting every request body at its route's limit, whether it says its length or not (ASGI).

A body that announces a `Content-Length` over the limit is refused before a byte of it is read. A
body without one (chunked transfer encoding) or one that lies about it is counted as it arrives
and cut with the same 413 once it passes the limit, so no route ever reads more than its limit:
`request.body()`, `request.json()`, `request.form()` and the upload's own streaming parser all read
through the counting `receive`. The same `receive` times out a body that stalls: a client that sends
part of a body and then nothing for `idle_timeout_s` gets 408, and whatever read it (the upload's
spool) drops what it had, so a slow client cannot hold a worker's memory, disk or connection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Forms and JSON bodies are small; only uploads may be large.
SMALL_BODY_BYTES = 64 * 1024
#: Multipart framing (boundaries, part headers, a few small fields) around an upload's file.
MULTIPART_ALLOWANCE = 64 * 1024


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes its route's limit; answered 413 with the reason."""

    def __init__(self, limit: int, *, announced: int | None = None) -> None:
        told = f"request body is {announced:,} bytes" if announced is not None else "request body is"
        super().__init__(413, f"{told}, over the limit of {limit:,} bytes")
        self.limit = limit


class BodyStalled(HTTPException):
    """Raised from `receive` when a body sends nothing for the idle timeout; answered 408."""

    def __init__(self, idle_timeout_s: float) -> None:
        super().__init__(
            408,
            f"the request body stalled: nothing arrived for {idle_timeout_s:g} s; send it again",
            headers={"Connection": "close"},
        )


def upload_body_limit(
    max_upload_bytes: int, upload_paths: frozenset[str] = frozenset({"/api/uploads"})
) -> Callable[[str], tuple[int, int]]:
    """For a path: (the bytes its body may have, the limit to name in the refusal).

    Uploads may be up to `max_upload_bytes` (plus multipart framing); every other route (sign-in
    forms, JSON) to 64 KiB, so an oversized form cannot make the server parse megabytes into memory.
    """

    def limit_for(path: str) -> tuple[int, int]:
        if path in upload_paths:
            return max_upload_bytes + MULTIPART_ALLOWANCE, max_upload_bytes
        return SMALL_BODY_BYTES, SMALL_BODY_BYTES

    return limit_for


class BodySizeLimit:
    """ASGI middleware: 413 (JSON `{"detail": ...}`) for any body over its path's limit."""

    def __init__(
        self, app: ASGIApp, limit_for: Callable[[str], tuple[int, int]], idle_timeout_s: float = 30.0
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.idle_timeout_s = idle_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        allowed, shown = self.limit_for(scope.get("path", ""))
        length = _content_length(scope)
        if length is not None and length > allowed:
            await _refuse(send, BodyTooLarge(shown, announced=length))
            return
        received = 0
        started = False
        body_complete = False

        async def counting_receive() -> Message:
            nonlocal received, body_complete
            if body_complete:
                # Once the body is in, `receive` only waits for the client to leave (a stream's
                # disconnect watch), which may rightly take as long as the response does.
                return await receive()
            try:
                async with asyncio.timeout(self.idle_timeout_s):
                    message = await receive()
            except TimeoutError:
                raise BodyStalled(self.idle_timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_complete = not message.get("more_body", False)
                if received > allowed:
                    raise BodyTooLarge(shown)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except (BodyTooLarge, BodyStalled) as refused:
            # Normally the exception middleware inside answers it; this is for reads outside it.
            if started:
                raise
            await _refuse(send, refused)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _refuse(send: Send, error: HTTPException) -> None:
    body = json.dumps({"detail": error.detail}).encode()
    extra = [(name.lower().encode(), value.encode()) for name, value in (error.headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
