"""occurrence ical_uid: the event's iCalendar UID, so that a meeting on two connected
calendars is nudged once (``bot.copies``)

Rows stored before this revision have none until their calendar is next read in full;
until then their copies are recognised by start and title.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ical_uid", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.drop_column("ical_uid")
