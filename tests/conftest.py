"""Servers for the whole session: a real Kafka broker, MinIO and PostgreSQL, started by the suite.

Nothing is mocked and nothing is skipped: what is missing is installed (PostgreSQL from Debian's
packages) or built once and cached under .state/cache (the Kafka jars, the MinIO binary).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.postgres import PostgresServer
from infra.local.processes import free_port
from infra.local.stack import REPO_ROOT, LocalStack, StackConfig

CACHE_DIR = REPO_ROOT / ".state" / "cache"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Kafka and MinIO on free ports, with topics and buckets; services are started per module."""
    config = StackConfig.on_free_ports(tmp_path_factory.mktemp("stack"), CACHE_DIR)
    config.service_env = {
        # Short enough that a killed worker's partitions move quickly in tests.
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
        "MEDIA_MAX_UPLOAD_BYTES": str(20 * 1024 * 1024),
    }
    local = LocalStack(config)
    try:
        local.start_infrastructure()
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL server (installed from Debian's packages when missing)."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres") / "data", port=free_port(), fast=True)
    server.start()
    server.wait_ready()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs on SQLite and on PostgreSQL (a fresh database per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"t_{abs(hash(request.node.nodeid)) % 10**12}"
    server.create_database(name)
    return server.url(name)
