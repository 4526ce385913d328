"""Direct multipart uploads to storage (issue #13): a job may be created before its bytes are stored.

Such a job has the status `uploading` (a string column: no schema change for it) and holds the id of
its S3 multipart upload until the upload is completed or aborted.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("upload_id", sa.String(1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("upload_id")
