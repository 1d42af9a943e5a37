"""feeds that list no attendees: occurrence attendees_unknown (such a meeting is not
solo), calendar_source attendees_unknown (no event of the feed lists an ATTENDEE) and
no_attendees_notified_at (its owner was told once)

Rows stored before this revision say attendance is known; a feed's next read in full
(at the latest its daily one) stores what it says.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attendees_unknown", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("calendar_source", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attendees_unknown", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("no_attendees_notified_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("calendar_source", schema=None) as batch_op:
        batch_op.drop_column("no_attendees_notified_at")
        batch_op.drop_column("attendees_unknown")
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.drop_column("attendees_unknown")
