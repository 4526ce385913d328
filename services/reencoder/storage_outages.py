"""Object storage failing is an outage, never the file's fault.

The handlers' entry points are wrapped with `storage_outages_are_infrastructure`: an error of MinIO or
of the way to it (5xx, a gateway's non-XML answer, connection refused or reset, retries exhausted)
leaves as an `InfrastructureError` saying what the worker was doing, so the consumer loop keeps the
record, with its partition paused, until storage is back, instead of failing the job after a few
quick retries. What is about the file (it does not decode, it is not media, it has too many pixels,
it is missing) is decided by the handlers themselves and fails the job at once with a reason.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import urllib3.exceptions
from minio.error import InvalidResponseError, S3Error, ServerError

from shared.kafka import InfrastructureError

P = ParamSpec("P")
T = TypeVar("T")


def is_storage_outage(error: BaseException) -> bool:
    """True for a failure of object storage (or the network to it) that says nothing about the file."""
    if isinstance(error, ServerError):
        return error.status_code >= 500
    if isinstance(error, S3Error):
        return error.response is not None and error.response.status >= 500
    # A proxy or gateway answering for an unreachable MinIO (HTML 502/503), or a broken server.
    return isinstance(error, InvalidResponseError | urllib3.exceptions.HTTPError)


def storage_outages_are_infrastructure(
    handler: Callable[P, Awaitable[T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Re-raise the handler's storage outages as `InfrastructureError` (chained to the original)."""

    @functools.wraps(handler)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await handler(*args, **kwargs)
        except Exception as error:
            if is_storage_outage(error):
                raise InfrastructureError(f"object storage is unavailable: {error}") from error
            raise

    return guarded
