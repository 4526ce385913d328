"""Share links: an owner's expiring, revocable links to one upload (issue #13).

Reserved in the chain so that work on several features can land in any order; empty until then.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
