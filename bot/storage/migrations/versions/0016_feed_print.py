"""calendar_source feed_print: a feed's fingerprints (``bot.calendars.fingerprint``), so a
refresh re-reads only the series that changed and a fresh DTSTAMP changes nothing

Rows stored before this revision have none: their next changed read is a whole one, which
stores it.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_source", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feed_print", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calendar_source", schema=None) as batch_op:
        batch_op.drop_column("feed_print")
