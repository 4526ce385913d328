"""Refusing oversized bodies from their Content-Length, before reading them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from services.frontend.middleware.correlation import Next

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
