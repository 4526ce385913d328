"""PostgreSQL's own log reaches Kafka: a slow query shows up on the logs topic as a warning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from infra.local.postgres import PostgresServer
from infra.local.processes import free_port
from infra.local.stack import LocalStack
from shared.events import LOGS, LogLevel
from tests.eventually import eventually
from tests.system.conftest import read_topic


@pytest.fixture
def logging_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL that writes JSON logs and logs every statement slower than 100 ms."""
    server = PostgresServer(
        tmp_path / "pg" / "data",
        port=free_port(),
        fast=True,
        extra_settings={
            "logging_collector": "on",
            "log_destination": "jsonlog",
            "log_directory": "log",  # inside the data folder
            "log_min_duration_statement": "100",
        },
    )
    server.start()
    server.wait_ready()
    try:
        yield server
    finally:
        server.stop()


def test_a_slow_query_is_shipped_to_the_logs_topic(
    stack: LocalStack, logging_postgres: PostgresServer, tmp_path: Path
) -> None:
    shipper = stack.start_service(
        "dblogs",
        "services.dblogs",
        {
            "DBLOGS_LOG_DIR": str(logging_postgres.data_dir / "log"),
            "DBLOGS_POSITIONS_FILE": str(tmp_path / "positions.json"),
            "DBLOGS_POLL_INTERVAL_S": "0.2",
        },
    )
    try:
        with psycopg.connect(logging_postgres.conninfo) as connection:
            connection.execute("SELECT pg_sleep(0.3) AS reencode_slow_probe")
        shipped = eventually(
            lambda: [
                record
                for record in read_topic(stack, LOGS, 2)
                if record.service == "postgresql" and "reencode_slow_probe" in record.message
            ],
            timeout=60,
            interval=0,
            what="the slow query on the logs topic",
        )
        assert shipped[0].level == LogLevel.WARNING
        assert "duration:" in shipped[0].message
    finally:
        stack.stop_service("dblogs")
    assert shipper.returncode == 0
