"""the options of a "Did you mean ...?" question, so a typed answer can name one

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("parents") as batch:
        batch.add_column(sa.Column("clarify_options", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("parents") as batch:
        batch.drop_column("clarify_options")
