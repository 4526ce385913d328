"""Alembic migrations of the relational schema, run by whoever starts first (frontend, `reencode init`).

The same migrations run on SQLite and PostgreSQL: SQLite alters tables in batch mode (copy and
rename), PostgreSQL in place. On PostgreSQL an advisory lock (on SQLite a lock file) serialises
concurrent starts, so two frontends booting together never race to create the same table.

    .venv/bin/python -m shared.migrations revision -m "what changes"   # write a new one
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect, text

MIGRATIONS_DIR = Path(__file__).resolve().parent
#: Any constant both processes agree on; it names the lock, nothing else.
_ADVISORY_LOCK_ID = 0x7265656E636F6465  # "reencode"
#: The first migration, matching the tables `create_all` made before migrations existed.
_BASELINE = "0001"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(engine: Engine) -> None:
    with _sqlite_file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        config = alembic_config(connection)
        tables = set(inspect(connection).get_table_names())
        if "jobs" in tables and "alembic_version" not in tables:
            # A database from before migrations: it holds exactly the baseline's tables.
            command.stamp(config, _BASELINE)
        command.upgrade(config, "head")


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """SQLite has no advisory locks: processes sharing a database file take a lock file beside it."""
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main() -> None:
    """`python -m shared.migrations <alembic command> ...` against DATABASE_URL."""
    from alembic.config import CommandLine

    from shared.database import make_engine
    from shared.settings import DatabaseSettings

    cli = CommandLine(prog="python -m shared.migrations")
    options = cli.parser.parse_args(sys.argv[1:])
    with make_engine(DatabaseSettings()).begin() as connection:
        cli.run_cmd(alembic_config(connection), options)


if __name__ == "__main__":
    main()
