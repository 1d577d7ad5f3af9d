"""flood-limit buckets shared by every bot process

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
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
        "flood_buckets",
        sa.Column("parent_id", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.Column("told_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("parent_id", name=op.f("pk_flood_buckets")),
    )
    op.create_index(op.f("ix_flood_buckets_updated"), "flood_buckets", ["updated"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_flood_buckets_updated"), table_name="flood_buckets")
    op.drop_table("flood_buckets")
