"""Request-wide concerns: the correlation id, and refusing oversized bodies before reading them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from shared.events import new_id
from shared.logs import correlation_scope

CORRELATION_HEADER = "X-Correlation-ID"

Next = Callable[[Request], Awaitable[Response]]


async def correlation_id(request: Request, call_next: Next) -> Response:
    """Adopt the caller's correlation id (or start one); it follows the upload through Kafka."""
    incoming = request.headers.get(CORRELATION_HEADER, "")
    value = incoming if incoming.isalnum() and len(incoming) <= 64 else new_id()
    with correlation_scope(value):
        response = await call_next(request)
    response.headers[CORRELATION_HEADER] = value
    return response


def body_size_limit(max_bytes: int) -> Callable[[Request, Next], Awaitable[Response]]:
    """Answer 413 from Content-Length alone, so a huge upload is not received before refusing it."""
    # Multipart framing adds a little around the file itself.
    allowance = max_bytes + 64 * 1024

    async def middleware(request: Request, call_next: Next) -> Response:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > allowance:
            return JSONResponse(
                {"detail": f"request body is {int(length):,} bytes, over the limit of {max_bytes:,} bytes"},
                status_code=413,
            )
        return await call_next(request)

    return middleware
