"""The system under chaos: a private stack on three Kafka brokers and PostgreSQL, the frontend and
several workers, and a thread that restarts whatever dies (as compose's `restart:` would).

Everything it starts lives in one state folder and is stopped by `stop()`, whatever happened.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import Engine

from infra.local.postgres import PostgresServer
from infra.local.processes import ManagedProcess, free_port, wait_for_port
from infra.local.stack import REPO_ROOT, LocalStack, StackConfig
from shared.database import make_engine
from shared.settings import DatabaseSettings

log = logging.getLogger(__name__)

CACHE_DIR = REPO_ROOT / ".state" / "cache"
DATABASE = "reencode"

#: The services' settings for the run: short enough that faults are noticed within seconds
#: (a killed worker's partitions move after the 6 s session timeout) and that the sweeper's
#: backstops act within the run, long enough that no healthy job counts as stuck.
CHAOS_ENV = {
    "KAFKA_SESSION_TIMEOUT_MS": "6000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
    "SWEEPER_INTERVAL_S": "5",
    "SWEEPER_QUEUED_AFTER_S": "120",
    "SWEEPER_PROCESSING_AFTER_S": "180",
    "SWEEPER_ORPHAN_AFTER_S": "30",
    "SWEEPER_ORPHAN_INTERVAL_S": "10",
}


class ChaosSite:
    """The stack of one run; `start()`, then faults through its parts, then `stop()`."""

    def __init__(self, state_dir: Path, workers: int, cache_dir: Path = CACHE_DIR) -> None:
        self.state_dir = state_dir
        self.config = StackConfig.on_free_ports(state_dir, cache_dir, kafka_nodes=3)
        self.config.reencoders = workers
        self.config.service_env = dict(CHAOS_ENV)
        self.stack = LocalStack(self.config)
        self.postgres = PostgresServer(
            state_dir / "postgres" / "data",
            port=free_port(),
            fast=True,
            log_path=state_dir / "logs" / "postgres.log",
        )
        #: Held while a fault kills a service and while the supervisor looks at them.
        self.lock = threading.Lock()
        self._stop_supervising = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._engine: Engine | None = None

    @property
    def workers(self) -> list[str]:
        return [name for name in self.stack.services if name.startswith("reencoder-")]

    def service(self, name: str) -> ManagedProcess:
        return self.stack.services[name]

    @property
    def database_url(self) -> str:
        return self.postgres.url(DATABASE)

    def engine(self) -> Engine:
        """An engine on the site's database, for the checks (opened on first use)."""
        if self._engine is None:
            self._engine = make_engine(DatabaseSettings(url=self.database_url, connect_timeout_s=3))
        return self._engine

    def start(self) -> None:
        """PostgreSQL, three brokers and MinIO, then the frontend and the workers; returns once the
        frontend answers, with the supervisor thread running."""
        self.postgres.start()
        self.postgres.wait_ready()
        self.postgres.create_database(DATABASE)
        self.config.database_url = self.database_url
        self.stack.start_infrastructure()
        frontend = self.stack.start_service("frontend", "services.frontend")
        for index in range(1, self.config.reencoders + 1):
            self.stack.start_reencoder(f"reencoder-{index}")
        wait_for_port("127.0.0.1", self.config.frontend_port, timeout=120, process=frontend)
        self._supervisor = threading.Thread(target=self._supervise, name="chaos-supervisor", daemon=True)
        self._supervisor.start()

    def _supervise(self) -> None:
        while not self._stop_supervising.wait(0.5):
            with self.lock:
                try:
                    self.stack.restart_dead_services()
                except Exception:  # a restart that fails is tried again on the next round
                    log.exception("supervisor: restart failed")

    def restarts(self) -> dict[str, int]:
        return dict(self.stack.supervisor.restarts)

    def stop(self) -> None:
        """Everything down: supervisor first (nothing is restarted while stopping), then the stack."""
        self._stop_supervising.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
        if self._engine is not None:
            self._engine.dispose()
        try:
            self.stack.stop()
        finally:
            self.postgres.stop()
