"""Share links: an owner's expiring, revocable links to one upload (issue #13).

Only the SHA-256 of a link's token is stored; revoking a link deletes its row.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "share_links",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("owner_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_share_links_job_id", "share_links", ["job_id"])
    op.create_index("ix_share_links_owner_id", "share_links", ["owner_id"])


def downgrade() -> None:
    op.drop_index("ix_share_links_owner_id", "share_links")
    op.drop_index("ix_share_links_job_id", "share_links")
    op.drop_table("share_links")
