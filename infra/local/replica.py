"""PostgreSQL as a primary with a synchronous streaming replica, both local processes.

The replica is made once with `pg_basebackup -R` (a replication slot keeps the WAL it has not yet
received) and follows the primary from then on. `synchronous_standby_names` makes the primary
acknowledge a commit only once the replica has it too, so losing the primary loses no commit. The
services connect with a multi-host URL and `target_session_attrs=read-write`, so libpq always picks
whichever server is the primary.
"""

from __future__ import annotations

import logging
import os
import pwd
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from infra.local.postgres import SERVER_USER, PostgresServer, _allow_traversal

log = logging.getLogger(__name__)

REPLICA_NAME = "replica"


class ReplicatedPostgres:
    """A primary on `primary_port` (settings from compose's command) and its replica on `replica_port`."""

    def __init__(
        self,
        primary_dir: Path,
        replica_dir: Path,
        primary_port: int,
        replica_port: int,
        primary_settings: dict[str, str],
        logs_dir: Path,
    ) -> None:
        settings = primary_settings | {
            "synchronous_standby_names": REPLICA_NAME,
            "synchronous_commit": "on",
        }
        self.primary = PostgresServer(
            primary_dir, primary_port, log_path=logs_dir / "postgres.log", extra_settings=settings
        )
        self.replica = PostgresServer(
            replica_dir,
            replica_port,
            log_path=logs_dir / "postgres-replica.log",
            # Its name is what the primary's synchronous_standby_names waits for.
            extra_settings={"cluster_name": REPLICA_NAME, "hot_standby": "on"},
        )

    def start(self, timeout: float = 120.0) -> None:
        if self.replica_was_promoted():
            self._take_over()
        self.primary.start()
        self.primary.wait_ready(timeout)
        if not (self.replica.data_dir / "PG_VERSION").is_file():
            self._base_backup()
        self.replica.process.start()
        self.replica.wait_ready(timeout)

    def stop(self) -> None:
        # The replica last: a primary stopping with sessions open may still need it to commit.
        self.primary.stop()
        self.replica.stop()

    @property
    def ports(self) -> list[int]:
        return [self.primary.port, self.replica.port]

    def create_owner(self, user: str, password: str, database: str) -> None:
        """Role `user` (password `password`) owning `database`, as the postgres image's POSTGRES_* do."""
        with psycopg.connect(self.primary.conninfo, autocommit=True) as connection:
            role = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
            verb = "ALTER" if role else "CREATE"
            connection.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)
                )
            )
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
            ).fetchone()
            if exists is None:
                connection.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(user)
                    )
                )

    def is_streaming(self) -> bool:
        """Whether the replica is connected and synchronous (pg_stat_replication on the primary)."""
        with psycopg.connect(self.primary.conninfo, autocommit=True) as connection:
            row = connection.execute(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s", (REPLICA_NAME,)
            ).fetchone()
        return row is not None and row[0] == "sync"

    def promote(self, timeout: float = 60.0) -> None:
        """Make the replica the primary (after the primary is lost): it stops following and takes
        writes. The services' multi-host URL finds it by itself (`target_session_attrs=read-write`).
        The old primary must not come back as a primary: make it a replica of this one first."""
        pg_ctl = [*self.primary._as_user, str(self.replica.bin_dir / "pg_ctl"), "promote"]
        pg_ctl += ["-D", str(self.replica.data_dir), "--wait", "--timeout", str(int(timeout))]
        result = subprocess.run(pg_ctl, cwd="/", capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl promote failed ({result.returncode}):\n{result.stderr}")
        with psycopg.connect(self.replica.conninfo, autocommit=True) as connection:
            row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
        if row is None or row[0]:
            raise RuntimeError(f"the replica on port {self.replica.port} is still in recovery")

    def replica_was_promoted(self) -> bool:
        """A replica folder without `standby.signal` is a primary now (`reencode db promote`)."""
        replica = self.replica.data_dir
        return (replica / "PG_VERSION").is_file() and not (replica / "standby.signal").is_file()

    def _take_over(self) -> None:
        """After a promotion, the promoted replica's data becomes the primary's (ports are
        settings, not data), the lost primary's folder is set aside, and a new replica is made."""
        lost = self.primary.data_dir.with_name(f"{self.primary.data_dir.name}-lost-{int(time.time())}")
        log.warning(
            "the replica was promoted: it is the primary now; the old primary's data is kept in %s", lost
        )
        if self.primary.data_dir.exists():
            self.primary.data_dir.rename(lost)
        self.replica.data_dir.rename(self.primary.data_dir)

    def _base_backup(self) -> None:
        target = self.replica.data_dir
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        as_user = self.primary._as_user
        if as_user:
            server = pwd.getpwnam(SERVER_USER)
            os.chown(target, server.pw_uid, server.pw_gid)
            _allow_traversal(target.parent)
        argv = [*as_user, str(self.primary.bin_dir / "pg_basebackup")]
        argv += ["--host", "127.0.0.1", "--port", str(self.primary.port), "--username", SERVER_USER]
        argv += ["--pgdata", str(target), "--write-recovery-conf", "--wal-method", "stream"]
        argv += ["--checkpoint", "fast", "--create-slot", "--slot", REPLICA_NAME]
        result = subprocess.run(argv, cwd="/", capture_output=True, text=True, check=False)
        if result.returncode != 0 and "already exists" in result.stderr:
            # A slot left by an earlier, interrupted backup: use it.
            argv.remove("--create-slot")
            result = subprocess.run(argv, cwd="/", capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pg_basebackup into {target} failed ({result.returncode}):\n{result.stderr}")
