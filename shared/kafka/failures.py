"""Two kinds of failure: the record's own fault, or the infrastructure's.

A deterministic failure (the record does not decode, `PermanentError`, a handler's own decision, a
bug) ends in a dead letter after the bounded retries. An infrastructure failure (the database,
object storage or Kafka is away for a while) says nothing about the record: the consumer loop
retries it with capped backoff for as long as the outage lasts and never dead-letters it, so an
outage cannot turn good records into dead letters.

`is_infrastructure_failure` is the one place that decides which is which. Services raise (or wrap
into) `InfrastructureError` for outages the list below does not know.
"""

from __future__ import annotations

import aiokafka.errors as kafka_errors
import sqlalchemy.exc
import urllib3.exceptions
from minio.error import S3Error, ServerError


class PermanentError(Exception):
    """A failure that retrying cannot fix: the message goes to the dead-letter topic at once."""


class InfrastructureError(Exception):
    """Something the handler depends on is unavailable; retrying later will work.

    Raise it (`raise InfrastructureError("...") from error`) to mark an outage the consumer loop
    would not recognise on its own.
    """


#: Kafka errors that mean "the cluster is away or moving", beyond those aiokafka marks retriable.
_KAFKA_OUTAGES = (
    kafka_errors.KafkaTimeoutError,
    kafka_errors.KafkaUnavailableError,
    kafka_errors.BrokerNotAvailableError,
)


def is_infrastructure_failure(error: BaseException) -> bool:
    """True for an outage of something the handler depends on, False for the record's own fault."""
    if isinstance(error, PermanentError):
        return False
    if isinstance(error, InfrastructureError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, kafka_errors.KafkaError):
        return bool(error.retriable) or isinstance(error, _KAFKA_OUTAGES)
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        # OperationalError: connection refused or lost, server shutting down, database locked.
        return isinstance(error, sqlalchemy.exc.OperationalError) or bool(error.connection_invalidated)
    if isinstance(error, sqlalchemy.exc.DisconnectionError | sqlalchemy.exc.TimeoutError):
        return True  # the pool lost its connection, or none was free in time
    if isinstance(error, ServerError):
        return error.status_code >= 500
    if isinstance(error, S3Error):
        return error.response is not None and error.response.status >= 500
    # Connection refused, reset, timed out, retries exhausted (MaxRetryError) on the way to storage.
    return isinstance(error, urllib3.exceptions.HTTPError)
