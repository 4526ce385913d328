"""Database monitoring on both backends: PostgreSQL's statistics views, SQLite's reduced view."""

from __future__ import annotations

from sqlalchemy import text

from services.monitoring.database_stats import DatabaseWatcher
from shared.database import create_schema, make_engine
from shared.settings import DatabaseSettings


def test_the_database_view_names_the_sites_tables(database_url: str) -> None:
    settings = DatabaseSettings(url=database_url)
    engine = make_engine(settings)
    create_schema(engine)
    watcher = DatabaseWatcher(settings)
    try:
        first = watcher.look()
        with engine.begin() as connection:
            connection.execute(text("SELECT count(*) FROM jobs"))
        second = watcher.look()
    finally:
        watcher.close()
        engine.dispose()
    assert first.findings == []
    view = second.view.model_dump()
    assert view["reachable"] is True
    assert {"jobs", "renditions"} <= {table["table"] for table in view["tables"]}
    if database_url.startswith("sqlite"):
        assert view["reduced"] is True
        assert view["size_bytes"] > 0
        assert "note" in view
    else:
        assert view["reduced"] is False
        assert view["connections"]["total"] >= 1
        # A rate needs two looks (PostgreSQL flushes its counters lazily, so it may still read 0).
        assert view["transactions_per_second"] is not None
        assert view["transactions_per_second"] >= 0
        assert view["slowest_queries"]["source"] in ("pg_stat_statements", "pg_stat_activity")
        assert {index["table"] for index in view["indexes"]} >= {"jobs"}
        assert view["replication"] == {"role": "primary", "replicas": []}


def test_an_unreachable_database_is_a_finding_not_an_error() -> None:
    watcher = DatabaseWatcher(DatabaseSettings(url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    look = watcher.look()
    assert look.view.reachable is False
    assert [finding.key for finding in look.findings] == ["database.unreachable"]
    assert "postgresql" in look.findings[0].message
