"""Exception handlers that turn an unreachable database or object store into a readable 503.

An outage of our infrastructure is never the caller's fault and never a 500: the answer says to
try again shortly (with `Retry-After`), and nothing already accepted is lost by it.
"""

from __future__ import annotations

import logging

import urllib3
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from minio.error import InvalidResponseError, ServerError
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

#: What the MinIO SDK raises while object storage is down or answering 5xx.
STORAGE_OUTAGES: tuple[type[Exception], ...] = (
    urllib3.exceptions.HTTPError,
    ServerError,
    InvalidResponseError,
)


def answer_outages_with_503(app: FastAPI) -> None:
    """Install both handlers on `app`."""
    app.add_exception_handler(OperationalError, database_unavailable)
    for outage in STORAGE_OUTAGES:
        app.add_exception_handler(outage, storage_unavailable)


async def database_unavailable(request: Request, error: Exception) -> Response:
    """The database is down or unreachable: a readable 503, not a stack trace (accepted data is safe)."""
    log.error("%s %s: database unavailable: %s", request.method, _route(request), error)
    return _try_again("the database is unavailable at the moment; please try again shortly")


async def storage_unavailable(request: Request, error: Exception) -> Response:
    """Object storage is down or unreachable: a readable 503 (the upload was not accepted; send it again)."""
    log.error("%s %s: object storage unavailable: %r", request.method, _route(request), error)
    return _try_again("file storage is unavailable at the moment; please try again shortly")


def _route(request: Request) -> str:
    """The route's template (`/s/{token}`), never the path: a path may hold a share link's secret."""
    return str(getattr(request.scope.get("route"), "path", "(no route)"))


def _try_again(detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})
