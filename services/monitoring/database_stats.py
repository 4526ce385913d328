"""The database as its own statistics describe it.

PostgreSQL: connections (pg_stat_activity), transactions per second (pg_stat_database deltas),
the slowest queries (pg_stat_statements when installed, else the longest-running statements in
pg_stat_activity), table and index sizes, and replication (pg_stat_replication on a primary, the
replay delay on a replica). SQLite has none of these: a reduced view of file, pages and tables.

Blocking (SQLAlchemy's sync engine): the caller runs `look` in a thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, RowMapping, text

from services.monitoring.alerts import Finding
from shared.database import make_engine
from shared.events import AlertSeverity
from shared.settings import DatabaseSettings

SOURCE = "database"


class Connections(BaseModel):
    total: int
    max: int
    #: Client connections per state (`active`, `idle`, `idle in transaction`, ...).
    by_state: dict[str, int]


class StatementStats(BaseModel):
    """One statement as pg_stat_statements sums it up."""

    query: str | None
    calls: int
    mean_ms: float
    total_ms: float


class RunningQuery(BaseModel):
    """A statement running now (pg_stat_activity), when pg_stat_statements is not installed."""

    pid: int
    state: str | None
    query: str
    running_ms: float


class SlowestStatements(BaseModel):
    source: Literal["pg_stat_statements"] = "pg_stat_statements"
    #: Slowest on average first.
    queries: list[StatementStats]


class LongestRunning(BaseModel):
    source: Literal["pg_stat_activity"] = "pg_stat_activity"
    #: Running longest first.
    queries: list[RunningQuery]


class TableStats(BaseModel):
    table: str
    #: Live rows (an estimate kept by the statistics collector).
    rows: int
    dead_rows: int
    table_bytes: int
    index_bytes: int
    total_bytes: int
    seq_scan: int | None
    idx_scan: int | None


class IndexStats(BaseModel):
    index: str
    table: str
    bytes: int
    scans: int | None


class Replica(BaseModel):
    """A standby streaming from this primary (pg_stat_replication)."""

    application_name: str | None
    client_addr: str | None
    state: str | None
    sync_state: str | None
    replay_lag_bytes: float | None


class Primary(BaseModel):
    role: Literal["primary"] = "primary"
    replicas: list[Replica]


class WalReceiver(BaseModel):
    status: str | None
    sender_host: str | None


class Standby(BaseModel):
    """This server is a replica: how far its replay is behind, and its WAL receiver."""

    role: Literal["replica"] = "replica"
    replay_delay_s: float | None
    receiver: WalReceiver | None


class PostgresView(BaseModel):
    """A PostgreSQL database as its statistics views describe it."""

    backend: Literal["postgresql"] = "postgresql"
    reachable: Literal[True] = True
    reduced: Literal[False] = False
    server_version: str | None
    database: str | None
    connections: Connections
    #: Commits and rollbacks per second since the previous look (None on the first).
    transactions_per_second: float | None
    commits: int
    rollbacks: int
    deadlocks: int
    cache_hit_ratio: float | None
    slowest_queries: SlowestStatements | LongestRunning
    tables: list[TableStats]
    indexes: list[IndexStats]
    replication: Primary | Standby


class SqliteTable(BaseModel):
    table: str
    rows: int


class SqliteIndex(BaseModel):
    index: str
    table: str


class SqliteView(BaseModel):
    """SQLite's reduced view: it keeps no connection, transaction, query or replication statistics."""

    backend: Literal["sqlite"] = "sqlite"
    reachable: Literal[True] = True
    reduced: Literal[True] = True
    note: str = "SQLite keeps no connection, transaction, query or replication statistics"
    file: str
    size_bytes: int
    free_pages: int | None
    journal_mode: str | None
    tables: list[SqliteTable]
    indexes: list[SqliteIndex]


class DatabaseUnreachable(BaseModel):
    backend: Literal["postgresql", "sqlite"]
    reachable: Literal[False] = False
    error: str


DatabaseView = PostgresView | SqliteView | DatabaseUnreachable


@dataclass
class DatabaseLook:
    view: DatabaseView
    findings: list[Finding]


@dataclass
class _Counters:
    at: float
    transactions: int


class DatabaseWatcher:
    def __init__(self, settings: DatabaseSettings, slow_queries: int = 10) -> None:
        # A monitor must notice a dead server quickly, not wait for the site's connect timeout.
        self._settings = settings.model_copy(update={"connect_timeout_s": 3, "pool_size": 2})
        self._engine: Engine | None = None
        self._slow_queries = slow_queries
        self._last: _Counters | None = None

    @property
    def backend(self) -> Literal["postgresql", "sqlite"]:
        return "sqlite" if self._settings.url.startswith("sqlite") else "postgresql"

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def look(self) -> DatabaseLook:
        try:
            if self._engine is None:
                self._engine = make_engine(self._settings)
            with self._engine.connect() as connection:
                view = self._sqlite(connection) if self.backend == "sqlite" else self._postgresql(connection)
        except Exception as error:
            # The pool may hold connections to a server that went away: start afresh next time.
            self.close()
            self._last = None
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return self.unreachable(f"{type(error).__name__}: {first_line}".rstrip(": "))
        return DatabaseLook(view, database_findings(view))

    def unreachable(self, reason: str) -> DatabaseLook:
        finding = Finding(
            "database.unreachable",
            SOURCE,
            AlertSeverity.CRITICAL,
            f"the {self.backend} database cannot be queried: {reason}",
        )
        return DatabaseLook(DatabaseUnreachable(backend=self.backend, error=reason), [finding])

    # --- PostgreSQL ---------------------------------------------------------------------------------

    def _postgresql(self, db: Connection) -> PostgresView:
        version = db.execute(text("SHOW server_version")).scalar()
        max_connections = int(db.execute(text("SHOW max_connections")).scalar() or 0)
        by_state = {
            str(state or "unknown"): int(count)
            for state, count in db.execute(
                text(
                    "SELECT state, count(*) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' GROUP BY state"
                )
            )
        }
        stats = (
            db.execute(
                text(
                    "SELECT xact_commit, xact_rollback, deadlocks, blks_hit, blks_read, numbackends "
                    "FROM pg_stat_database WHERE datname = current_database()"
                )
            )
            .mappings()
            .one()
        )
        return PostgresView(
            server_version=version,
            database=db.execute(text("SELECT current_database()")).scalar(),
            connections=Connections(total=sum(by_state.values()), max=max_connections, by_state=by_state),
            transactions_per_second=self._rate(int(stats["xact_commit"]) + int(stats["xact_rollback"])),
            commits=int(stats["xact_commit"]),
            rollbacks=int(stats["xact_rollback"]),
            deadlocks=int(stats["deadlocks"]),
            cache_hit_ratio=_ratio(int(stats["blks_hit"]), int(stats["blks_hit"]) + int(stats["blks_read"])),
            slowest_queries=self._slowest(db),
            tables=[
                TableStats.model_validate(_plain(row)) for row in db.execute(text(_PG_TABLES)).mappings()
            ],
            indexes=[
                IndexStats.model_validate(_plain(row)) for row in db.execute(text(_PG_INDEXES)).mappings()
            ],
            replication=_replication(db),
        )

    def _rate(self, transactions: int) -> float | None:
        """Transactions per second since the previous look (None on the first)."""
        now = time.monotonic()
        last, self._last = self._last, _Counters(now, transactions)
        if last is None or now <= last.at:
            return None
        return round(max(0, transactions - last.transactions) / (now - last.at), 2)

    def _slowest(self, db: Connection) -> SlowestStatements | LongestRunning:
        has_statements = db.execute(
            text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
        ).scalar()
        limit = {"limit": self._slow_queries}
        if has_statements:
            rows = db.execute(
                text(
                    "SELECT left(query, 300) AS query, calls, round(mean_exec_time::numeric, 2) AS mean_ms, "
                    "round(total_exec_time::numeric, 2) AS total_ms FROM pg_stat_statements "
                    "ORDER BY mean_exec_time DESC LIMIT :limit"
                ),
                limit,
            )
            return SlowestStatements(
                queries=[StatementStats.model_validate(_plain(row)) for row in rows.mappings()]
            )
        rows = db.execute(
            text(
                "SELECT pid, state, left(query, 300) AS query, "
                "round(extract(epoch FROM now() - query_start)::numeric * 1000, 1) AS running_ms "
                "FROM pg_stat_activity WHERE state <> 'idle' AND pid <> pg_backend_pid() "
                "AND query_start IS NOT NULL AND backend_type = 'client backend' "
                "ORDER BY query_start LIMIT :limit"
            ),
            limit,
        )
        return LongestRunning(queries=[RunningQuery.model_validate(_plain(row)) for row in rows.mappings()])

    # --- SQLite -------------------------------------------------------------------------------------

    def _sqlite(self, db: Connection) -> SqliteView:
        pragma = {
            name: db.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("page_count", "page_size", "freelist_count", "journal_mode")
        }
        names = db.exec_driver_sql(
            "SELECT name, type, tbl_name FROM sqlite_master WHERE type IN ('table', 'index') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).all()
        tables = [
            SqliteTable(
                table=name,
                # Quoted: names come from the schema itself, never from a request.
                rows=int(db.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar() or 0),
            )
            for name, kind, _table in names
            if kind == "table"
        ]
        indexes = [SqliteIndex(index=name, table=table) for name, kind, table in names if kind == "index"]
        return SqliteView(
            file=self._settings.url.split("///", 1)[-1],
            size_bytes=int(pragma["page_count"] or 0) * int(pragma["page_size"] or 0),
            free_pages=pragma["freelist_count"],
            journal_mode=pragma["journal_mode"],
            tables=tables,
            indexes=indexes,
        )


_PG_TABLES = """
SELECT relname AS table, n_live_tup AS rows, n_dead_tup AS dead_rows,
       pg_relation_size(relid) AS table_bytes, pg_indexes_size(relid) AS index_bytes,
       pg_total_relation_size(relid) AS total_bytes, seq_scan, idx_scan
FROM pg_stat_user_tables ORDER BY pg_total_relation_size(relid) DESC LIMIT 50
"""
_PG_INDEXES = """
SELECT indexrelname AS index, relname AS table, pg_relation_size(indexrelid) AS bytes, idx_scan AS scans
FROM pg_stat_user_indexes ORDER BY pg_relation_size(indexrelid) DESC LIMIT 50
"""


def _replication(db: Connection) -> Primary | Standby:
    if db.execute(text("SELECT pg_is_in_recovery()")).scalar():
        delay = db.execute(
            text("SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())")
        ).scalar()
        receiver = db.execute(text("SELECT status, sender_host FROM pg_stat_wal_receiver")).mappings().first()
        return Standby(
            replay_delay_s=None if delay is None else round(float(delay), 1),
            receiver=None if receiver is None else WalReceiver.model_validate(_plain(receiver)),
        )
    replicas = db.execute(
        text(
            "SELECT application_name, client_addr::text AS client_addr, state, sync_state, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS replay_lag_bytes "
            "FROM pg_stat_replication"
        )
    ).mappings()
    return Primary(replicas=[Replica.model_validate(_plain(row)) for row in replicas])


def database_findings(view: DatabaseView) -> list[Finding]:
    """Warnings a reachable database deserves: connections near the limit, replicas not streaming."""
    if not isinstance(view, PostgresView):
        return []  # unreachable (a finding of its own), or SQLite: no connections, no replicas
    findings = []
    connections = view.connections
    if connections.max and connections.total >= 0.8 * connections.max:
        findings.append(
            Finding(
                "database.connections",
                SOURCE,
                AlertSeverity.WARNING,
                f"{connections.total} of {connections.max} connections in use",
            )
        )
    replicas = view.replication.replicas if isinstance(view.replication, Primary) else []
    for replica in replicas:
        if replica.state != "streaming":
            findings.append(
                Finding(
                    f"database.replica:{replica.application_name}",
                    SOURCE,
                    AlertSeverity.WARNING,
                    f"replica {replica.application_name} is {replica.state}, not streaming",
                )
            )
    return findings


def _plain(row: RowMapping) -> Mapping[str, object]:
    """A row with its numerics (Decimal) as floats, for the models to validate."""
    return {key: float(value) if isinstance(value, Decimal) else value for key, value in row.items()}


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)
