"""calendar_source: an index on (kind, next_check_at), the order of the poll's claim

The claim of due feeds filters on kind and next_check_at (any status) and takes the
earliest first; the (kind, status, next_check_at) index cannot give that order without
the status, so each claim sorted every calendar of the kind: bench/refresh.py's poll
cycle grew 11.6x from 1,000 to 10,000 feeds on PostgreSQL.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_calendar_source_kind_due", "calendar_source", ["kind", "next_check_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_calendar_source_kind_due", table_name="calendar_source")
