"""calendar_source last_changed_at: when a feed's content last changed, so a feed quiet for a
day is polled less often (``bot.sync.polling``)

Rows stored before this revision take their last check as their last change: they are polled
at the configured interval for a day, then less often if nothing changes.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_source", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_changed_at", sa.DateTime(timezone=True), nullable=True))
    source = sa.table(
        "calendar_source",
        sa.column("last_changed_at", sa.DateTime(timezone=True)),
        sa.column("last_checked_at", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        source.update().values(
            last_changed_at=sa.func.coalesce(source.c.last_checked_at, source.c.created_at)
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("calendar_source", schema=None) as batch_op:
        batch_op.drop_column("last_changed_at")
