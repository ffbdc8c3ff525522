"""AK/SK access keys: the secret kept encrypted under the master key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 13:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("access_key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_keys")),
        sa.UniqueConstraint("access_key_id", name=op.f("uq_access_keys_access_key_id")),
        sa.UniqueConstraint("name", name=op.f("uq_access_keys_name")),
    )


def downgrade() -> None:
    op.drop_table("access_keys")
