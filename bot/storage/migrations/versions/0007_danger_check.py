"""the message awaiting the parent's answer to the safeguarding gate's "is a child at risk now?"

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("parents") as batch:
        batch.add_column(sa.Column("danger_check", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("parents") as batch:
        batch.drop_column("danger_check")
