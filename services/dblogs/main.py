"""dblogs: ships the database's own log, slow queries first, to Kafka (the design: "the RDBMS
generates logs").

Consumes:  nothing from Kafka; tails PostgreSQL's JSON log files (`log_destination = jsonlog`)
Produces:  logs                 (one LogRecord per line, service "postgresql"; slow statements as warnings)
HTTP:      none; /metrics and /healthz on TELEMETRY_METRICS_PORT when set (lines, slow statements)
Settings:  DblogsConfig: Kafka, DBLOGS_*, TELEMETRY_METRICS_*.

In compose, PostgreSQL writes its log to a volume this service reads. Locally it runs only when
`DBLOGS_LOG_DIR` names such a folder (the local stack defaults to SQLite, which has no server log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.dblogs.postgres_log import slow_query_ms, to_log_record
from services.dblogs.tailer import FolderTailer
from shared.events import LOGS, LogLevel, LogRecord
from shared.frame import Runtime, ServiceConfig, ServiceDeclaration, Wiring, run_service
from shared.kafka import EventProducer
from shared.settings import STATE_DIR

log = logging.getLogger(__name__)

DBLOGS = ServiceDeclaration(
    name="dblogs",
    summary="Ships PostgreSQL's own JSON log, slow statements first, to the logs topic.",
    produces=(LOGS,),
)


class DblogsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DBLOGS_")

    log_dir: Path
    pattern: str = "*.json"
    positions_file: Path = STATE_DIR / "dblogs" / "positions.json"
    poll_interval_s: float = 1.0


class DblogsConfig(ServiceConfig):
    dblogs: DblogsSettings = Field(default_factory=DblogsSettings)


class ShipperMetrics:
    """What the shipper did, for Prometheus: lines by level, slow statements, lines it could not read."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.shipped = Counter(
            "reencode_dblogs_lines_shipped", "Database log lines published, by level", ["level"], registry=r
        )
        self.unreadable = Counter(
            "reencode_dblogs_lines_unreadable",
            "Lines of the log that were not a JSON object (torn or foreign); not shipped",
            registry=r,
        )
        self.slow = Histogram(
            "reencode_dblogs_slow_statement_seconds",
            "Statements logged as slower than log_min_duration_statement, by duration",
            buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=r,
        )
        for level in LogLevel:
            self.shipped.labels(level.value)  # errors at 0 from the start, for rates and alerts

    def count(self, lines: int, records: list[LogRecord]) -> None:
        self.unreadable.inc(lines - len(records))
        for record in records:
            self.shipped.labels(record.level.value).inc()
            if record.level is LogLevel.WARNING:
                # The message is "[user/db] duration: 1234.5 ms  statement: ...".
                slow_ms = slow_query_ms(record.message.split("] ", 1)[-1])
                if slow_ms is not None:
                    self.slow.observe(slow_ms / 1000)


class LogShipper:
    """Reads new log lines, publishes them, and only then saves how far it got."""

    def __init__(self, settings: DblogsSettings, producer: EventProducer, instance_id: str) -> None:
        self._settings = settings
        self._producer = producer
        self._instance_id = instance_id
        self._tailer = FolderTailer(settings.log_dir, settings.pattern, settings.positions_file)
        self._stopping = asyncio.Event()
        self.metrics = ShipperMetrics()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            lines, positions = await asyncio.to_thread(self._tailer.read_new_lines)
            records = [r for line in lines if (r := to_log_record(line, self._instance_id))]
            await asyncio.gather(*(self._producer.publish(LOGS, record) for record in records))
            self.metrics.count(len(lines), records)
            # Only once Kafka has acknowledged the batch: a crash re-ships, never skips.
            await asyncio.to_thread(self._tailer.commit, positions)
            if not lines:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._settings.poll_interval_s)
        log.info("stopped; positions saved in %s", self._settings.positions_file)


@contextlib.asynccontextmanager
async def setup(config: DblogsConfig, runtime: Runtime) -> AsyncIterator[Wiring]:
    shipper = LogShipper(config.dblogs, runtime.producer, runtime.identity.instance_id)
    yield Wiring(workers=[shipper], registry=shipper.metrics.registry)


def main() -> None:
    config = DblogsConfig()
    run_service(DBLOGS, config, partial(setup, config))
