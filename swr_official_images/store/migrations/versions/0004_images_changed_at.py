"""images.changed_at: when the store last changed each record (the API's Last-Modified).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 13:10:00.000000

Existing rows get the migration's time: nothing records when they last changed before, and
no client holds a Last-Modified from before this revision, so any time no later than now is
correct; the migration's own time is the only one that is both true ("not changed since") and
never ahead of later changes. Docker Hub's `last_updated` is not used: it is not when this
store changed the record, and it can lag the import by years.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added nullable, filled, then made NOT NULL: a NOT NULL column needs a value for the rows
    # already there, and a server default would outlive the migration. On SQLite the last
    # step copies the table (batch mode).
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("changed_at", sa.DateTime(), nullable=True))
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    images = sa.table("images", sa.column("changed_at", sa.DateTime()))
    op.execute(images.update().values(changed_at=now))
    with op.batch_alter_table("images") as batch:
        batch.alter_column("changed_at", existing_type=sa.DateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("changed_at")
