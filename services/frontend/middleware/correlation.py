"""The correlation id: adopted from the caller or started here, it follows an upload through Kafka."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response

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
