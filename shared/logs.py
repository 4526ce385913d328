"""Structured JSON logging with the correlation id of the message or request in hand."""

from __future__ import annotations

import json
import logging
import queue
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from shared.events import LogLevel, LogRecord, new_id

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
#: Set while log records are being published: lines logged then must not be published again.
_publishing: ContextVar[bool] = ContextVar("publishing_logs", default=False)

#: Loggers whose lines never go to the logs topic: the Kafka client's own lines would feed back
#: into the producer that publishes them.
UNPUBLISHED_LOGGERS = ("aiokafka", "kafka")


def current_correlation_id() -> str | None:
    return _correlation_id.get()


@contextmanager
def correlation_scope(correlation_id: str) -> Iterator[None]:
    """Tag every log line written inside the block (and tasks it starts) with `correlation_id`."""
    token = _correlation_id.set(correlation_id)
    try:
        yield
    finally:
        _correlation_id.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "service": self._service,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if (correlation_id := _correlation_id.get()) is not None:
            line["correlation_id"] = correlation_id
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send JSON lines for `service` to stderr; quiet the chattiest client libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO: monitoring's health probes would drown the logs topic.
    for noisy in ("aiokafka", "kafka", "urllib3", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class LogBuffer(logging.Handler):
    """Keeps log records for the logs topic in a bounded queue; never blocks the code that logs.

    A task (`shared.frame.telemetry.publish_logs`) drains it through the service's producer. When the
    broker is slow or down the queue fills and further lines are counted in `dropped` instead of
    piling up in memory: the JSON lines on stderr still have everything.
    """

    def __init__(self, service: str, instance_id: str, capacity: int = 2000) -> None:
        super().__init__(logging.INFO)
        self.service = service
        self.instance_id = instance_id
        self.dropped = 0
        self._queue: queue.Queue[LogRecord] = queue.Queue(maxsize=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        if _publishing.get() or record.name.startswith(UNPUBLISHED_LOGGERS):
            return
        try:
            event = to_log_record(record, self.service, self.instance_id)
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
        except Exception:
            self.handleError(record)

    def drain(self, limit: int = 500) -> list[LogRecord]:
        """Up to `limit` queued records, oldest first."""
        taken: list[LogRecord] = []
        while len(taken) < limit:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return taken


def to_log_record(record: logging.LogRecord, service: str, instance_id: str) -> LogRecord:
    """The catalogue event for one stdlib log record, with the correlation id in hand."""
    correlation_id = _correlation_id.get()
    message = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        message = f"{message}: {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
    return LogRecord(
        correlation_id=correlation_id or new_id(),
        uncorrelated=correlation_id is None,
        occurred_at=datetime.fromtimestamp(record.created, UTC),
        service=service,
        instance_id=instance_id,
        level=_level(record.levelno),
        logger=record.name,
        message=message,
    )


def _level(levelno: int) -> LogLevel:
    if levelno >= logging.CRITICAL:
        return LogLevel.CRITICAL
    if levelno >= logging.ERROR:
        return LogLevel.ERROR
    if levelno >= logging.WARNING:
        return LogLevel.WARNING
    return LogLevel.INFO if levelno >= logging.INFO else LogLevel.DEBUG


@contextmanager
def log_buffer(service: str, instance_id: str) -> Iterator[LogBuffer]:
    """Attach a `LogBuffer` to the root logger for the block; the caller drains it."""
    buffer = LogBuffer(service, instance_id)
    root = logging.getLogger()
    root.addHandler(buffer)
    try:
        yield buffer
    finally:
        root.removeHandler(buffer)


@contextmanager
def publishing_scope() -> Iterator[None]:
    """Lines logged inside the block (by the publisher itself) are not queued for publishing."""
    token = _publishing.set(True)
    try:
        yield
    finally:
        _publishing.reset(token)
