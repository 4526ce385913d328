"""Webhook endpoints and their delivery attempts (issue #16).

Reserved in the chain so that work on several features can land in any order; empty until then.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
