"""Which failures are the infrastructure's (retried until it is back) and which the record's own."""

from __future__ import annotations

import aiokafka.errors as kafka_errors
import pytest
import sqlalchemy.exc
import urllib3.exceptions
from minio.error import ServerError

from shared.kafka import InfrastructureError, PermanentError, is_infrastructure_failure


class _Lost(Exception):
    pass


@pytest.mark.parametrize(
    "error",
    [
        InfrastructureError("search index away"),
        ConnectionRefusedError(),
        TimeoutError(),
        kafka_errors.KafkaConnectionError(),
        kafka_errors.KafkaTimeoutError(),
        kafka_errors.NotLeaderForPartitionError(),
        sqlalchemy.exc.OperationalError("SELECT 1", {}, _Lost("connection refused")),
        sqlalchemy.exc.DBAPIError("SELECT 1", {}, _Lost("gone"), connection_invalidated=True),
        sqlalchemy.exc.TimeoutError("pool exhausted"),
        ServerError("server failed with HTTP status code 503", 503),
        urllib3.exceptions.NewConnectionError(None, "connection refused"),  # type: ignore[arg-type]
    ],
)
def test_outages_are_infrastructure_failures(error: Exception) -> None:
    assert is_infrastructure_failure(error)


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("corrupt image"),
        ValueError("bad"),
        KeyError("x"),
        kafka_errors.MessageSizeTooLargeError(),
        sqlalchemy.exc.IntegrityError("INSERT", {}, _Lost("duplicate key")),
        sqlalchemy.exc.DBAPIError("SELECT 1", {}, _Lost("syntax"), connection_invalidated=False),
        ServerError("server failed with HTTP status code 404", 404),
    ],
)
def test_the_records_own_failures_are_not(error: Exception) -> None:
    assert not is_infrastructure_failure(error)
