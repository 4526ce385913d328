"""dblogs: ships the database's own log, slow queries first, to Kafka (the design: "the RDBMS
generates logs").

Consumes:  nothing from Kafka; tails PostgreSQL's JSON log files (`log_destination = jsonlog`)
Produces:  logs                 (one LogRecord per line, service "postgresql"; slow statements as warnings)
           services.heartbeats
HTTP:      none
Settings:  KafkaSettings, DblogsSettings (DBLOGS_*).

In compose, PostgreSQL writes its log to a volume this service reads. Locally it runs only when
`DBLOGS_LOG_DIR` names such a folder (the local stack defaults to SQLite, which has no server log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.dblogs.postgres_log import to_log_record
from services.dblogs.tailer import FolderTailer
from shared.events import LOGS, SERVICE_HEARTBEATS
from shared.kafka import EventProducer
from shared.logs import configure_logging
from shared.service import ServiceIdentity, heartbeating, stop_on_signals
from shared.settings import STATE_DIR, KafkaSettings, default_instance_id

log = logging.getLogger(__name__)


class DblogsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DBLOGS_")

    log_dir: Path
    pattern: str = "*.json"
    positions_file: Path = STATE_DIR / "dblogs" / "positions.json"
    poll_interval_s: float = 1.0
    instance_id: str = Field(default_factory=lambda: default_instance_id("dblogs"))


async def ship(kafka: KafkaSettings, settings: DblogsSettings) -> None:
    identity = ServiceIdentity("dblogs", settings.instance_id, produces=(LOGS.name, SERVICE_HEARTBEATS.name))
    tailer = FolderTailer(settings.log_dir, settings.pattern, settings.positions_file)
    stopping = asyncio.Event()
    async with (
        EventProducer(kafka, client_id=settings.instance_id) as producer,
        heartbeating(producer, identity),
    ):
        with stop_on_signals(stopping.set):
            while not stopping.is_set():
                lines, positions = await asyncio.to_thread(tailer.read_new_lines)
                records = [r for line in lines if (r := to_log_record(line, settings.instance_id))]
                await asyncio.gather(*(producer.publish(LOGS, record) for record in records))
                # Only once Kafka has acknowledged the batch: a crash re-ships, never skips.
                await asyncio.to_thread(tailer.commit, positions)
                if not lines:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), settings.poll_interval_s)
    log.info("stopped; positions saved in %s", settings.positions_file)


def main() -> None:
    configure_logging("dblogs")
    asyncio.run(ship(KafkaSettings(), DblogsSettings()))
