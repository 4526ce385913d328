"""Sizes are 64-bit integers: an upload over 2 GiB (videos may be 8 GiB) no longer overflows PostgreSQL's
32-bit INTEGER when its job is created.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: (table, column) of every size in bytes.
_SIZES = (("jobs", "size_bytes"), ("renditions", "bytes"))


def upgrade() -> None:
    for table, column in _SIZES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column, existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
            )


def downgrade() -> None:
    for table, column in _SIZES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column, existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
            )
