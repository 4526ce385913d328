"""Request-wide concerns: the correlation id, and refusing oversized bodies before reading them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from shared.events import new_id
from shared.logs import correlation_scope

log = logging.getLogger(__name__)

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


#: Forms and JSON bodies are small; only uploads may be large.
SMALL_BODY_BYTES = 64 * 1024


def body_size_limit(
    max_upload_bytes: int, upload_paths: frozenset[str] = frozenset({"/api/uploads"})
) -> Callable[[Request, Next], Awaitable[Response]]:
    """Answer 413 from Content-Length alone, so a huge body is not received before refusing it.

    Uploads may be up to `max_upload_bytes`; every other route (sign-in forms, JSON) to 64 KiB, so an
    oversized form cannot make the server parse megabytes into memory.
    """
    # Multipart framing adds a little around the file itself.
    upload_allowance = max_upload_bytes + 64 * 1024

    async def middleware(request: Request, call_next: Next) -> Response:
        length = request.headers.get("content-length", "")
        limit = upload_allowance if request.url.path in upload_paths else SMALL_BODY_BYTES
        if length.isdigit() and int(length) > limit:
            shown = max_upload_bytes if limit == upload_allowance else limit
            return JSONResponse(
                {"detail": f"request body is {int(length):,} bytes, over the limit of {shown:,} bytes"},
                status_code=413,
            )
        return await call_next(request)

    return middleware


async def database_unavailable(request: Request, error: Exception) -> Response:
    """The database is down or unreachable: a readable 503, not a stack trace (accepted data is safe)."""
    log.error("%s %s: database unavailable: %s", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": "the database is unavailable at the moment; please try again shortly"},
        status_code=503,
        headers={"Retry-After": "5"},
    )
