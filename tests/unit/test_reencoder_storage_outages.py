"""Storage failing is an outage the consumer waits out; what is about the file still fails the job."""

from __future__ import annotations

import asyncio

import pytest
import urllib3
import urllib3.exceptions
from minio.error import InvalidResponseError, S3Error, ServerError

from services.reencoder.storage_outages import is_storage_outage, storage_outages_are_infrastructure
from services.reencoder.timing import PhaseTimer
from shared.kafka import InfrastructureError, is_infrastructure_failure
from shared.media import MediaRejected


def s3_error(status: int, code: str) -> S3Error:
    response = urllib3.HTTPResponse(status=status)
    return S3Error(response, code, "message", "key", "request", "host")


@pytest.mark.parametrize(
    "error",
    [
        ServerError("server failed with HTTP status code 503", 503),
        s3_error(503, "XMinioServerNotInitialized"),
        InvalidResponseError(502, "text/html", "<html>Bad Gateway</html>"),
        urllib3.exceptions.MaxRetryError(None, "/renditions", "connection refused"),  # type: ignore[arg-type]
    ],
)
async def test_storage_outages_leave_the_handler_as_infrastructure_errors(error: Exception) -> None:
    assert is_storage_outage(error)

    @storage_outages_are_infrastructure
    async def handler() -> None:
        raise error

    with pytest.raises(InfrastructureError) as raised:
        await handler()
    assert raised.value.__cause__ is error
    assert is_infrastructure_failure(raised.value)


@pytest.mark.parametrize(
    "error",
    [MediaRejected("ffprobe says this is not a video"), s3_error(403, "AccessDenied"), ValueError("a bug")],
)
async def test_other_failures_pass_through_unchanged(error: Exception) -> None:
    assert not is_storage_outage(error)

    @storage_outages_are_infrastructure
    async def handler() -> None:
        raise error

    with pytest.raises(type(error)) as raised:
        await handler()
    assert raised.value is error


async def test_the_timer_knows_which_phase_a_timeout_broke_off() -> None:
    timer = PhaseTimer()
    with timer.phase("download"):
        pass

    async def upload() -> None:
        async with asyncio.timeout(0.01):
            with timer.phase("upload"):
                await asyncio.sleep(1)

    with pytest.raises(TimeoutError):
        await upload()
    assert timer.broken_off == "upload"
