"""Debian's prometheus-postgres-exporter (installed with apt when missing) reads the session's real
PostgreSQL and serves its statistics, as compose's postgres-exporter does."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from infra.local.postgres import SERVER_USER, PostgresServer
from infra.local.processes import free_port
from infra.local.prometheus import PostgresExporter
from tests.eventually import eventually
from tests.system.test_prometheus import dashboard_expressions


def test_the_exporter_sees_the_database_up_with_its_connections(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    source = f"postgresql://{SERVER_USER}@127.0.0.1:{postgres.port}/postgres?sslmode=disable"
    exporter = PostgresExporter(source, free_port(), tmp_path / "postgres-exporter.log")
    exporter.start()
    try:
        page = eventually(
            lambda: httpx.get(f"http://{exporter.address}/metrics", timeout=10).text,
            until=lambda text: "pg_up" in text,
            timeout=30,
            what="pg_up on the exporter's /metrics",
        )
    finally:
        exporter.stop()
    assert re.search(r"^pg_up 1$", page, re.MULTILINE), exporter.process.log_tail()
    assert "pg_stat_database_numbackends" in page
    # Every PostgreSQL panel of the dashboards charts a metric the exporter serves (the session's
    # Prometheus test cannot: its stack runs on SQLite).
    for where, expression in dashboard_expressions():
        for metric in re.findall(r"\b(pg_\w+)", expression):
            assert re.search(rf"^{metric}\b", page, re.MULTILINE), f"{where}: no {metric} on the exporter"
