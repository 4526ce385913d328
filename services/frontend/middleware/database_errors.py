"""The exception handler that turns an unreachable database into a readable 503."""

from __future__ import annotations

import logging

from fastapi import Request, Response
from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)


async def database_unavailable(request: Request, error: Exception) -> Response:
    """The database is down or unreachable: a readable 503, not a stack trace (accepted data is safe)."""
    log.error("%s %s: database unavailable: %s", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": "the database is unavailable at the moment; please try again shortly"},
        status_code=503,
        headers={"Retry-After": "5"},
    )
