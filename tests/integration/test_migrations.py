"""The Alembic migrations build exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from shared.database import Base, create_schema, make_engine
from shared.settings import DatabaseSettings


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(DatabaseSettings(url=database_url))
    create_schema(engine)
    create_schema(engine)  # idempotent
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_concurrent_starts_migrate_once(database_url: str) -> None:
    engines = [make_engine(DatabaseSettings(url=database_url)) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(create_schema, engines))
    assert {"users", "jobs", "sessions", "alembic_version"} <= set(inspect(engines[0]).get_table_names())
    for engine in engines:
        engine.dispose()


def test_a_database_from_before_migrations_is_adopted(database_url: str) -> None:
    """Tables made by the foundation's `create_all` are stamped as the baseline, then upgraded."""
    engine = make_engine(DatabaseSettings(url=database_url))
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE jobs (id VARCHAR(32) PRIMARY KEY, kind VARCHAR(16) NOT NULL,"
                " status VARCHAR(16) NOT NULL, progress FLOAT NOT NULL, error TEXT,"
                " filename VARCHAR(255) NOT NULL, content_type VARCHAR(100) NOT NULL,"
                " size_bytes INTEGER NOT NULL, source_key VARCHAR(255) NOT NULL,"
                " correlation_id VARCHAR(64) NOT NULL, worker_id VARCHAR(255),"
                " created_at TIMESTAMP WITH TIME ZONE NOT NULL, updated_at TIMESTAMP WITH TIME ZONE NOT NULL)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO jobs VALUES ('a1', 'image', 'done', 1.0, NULL, 'cat.jpg', 'image/jpeg', 3,"
                " 'a1/original', 'c1', NULL, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "CREATE TABLE renditions (job_id VARCHAR(32) REFERENCES jobs(id) ON DELETE CASCADE,"
                " name VARCHAR(64), content_type VARCHAR(100) NOT NULL, width INTEGER NOT NULL,"
                " height INTEGER NOT NULL, bytes INTEGER NOT NULL, key VARCHAR(255) NOT NULL,"
                " PRIMARY KEY (job_id, name))"
            )
        )
    create_schema(engine)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT filename FROM jobs WHERE id = 'a1'")) == "cat.jpg"
        assert connection.scalar(text("SELECT owner_id FROM jobs WHERE id = 'a1'")) is None
    engine.dispose()
