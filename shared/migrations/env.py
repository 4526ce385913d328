"""Alembic's entry point: migrations run on the connection `upgrade_to_head` hands over."""

from __future__ import annotations

from alembic import context

from shared.database import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through shared.migrations, which passes a connection")

# render_as_batch: SQLite cannot ALTER most things, so Alembic copies the table instead.
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
