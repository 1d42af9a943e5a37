"""microsoft: Microsoft 365 calendar connections (MSAL token cache, delta link,
subscription) and Graph's event id beside each occurrence (``bot.sync.microsoft``)

An ``@removed`` entry of a delta round names only the instance's Graph id, while an
occurrence is known by its series and original start: ``occurrence.event_id`` (nullable,
indexed) lets a removal find its row. A column rather than a table of its own: it lives
and dies with the row (a full read that drops a row drops its id), and erase and
uninstall already delete occurrences.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "microsoft_calendar",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=320), nullable=False),
        sa.Column("token_cache", sa.Text(), nullable=False),
        sa.Column("delta_link", sa.Text(), nullable=True),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("client_state", sa.Text(), nullable=True),
        sa.Column("subscription_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified", sa.Integer(), nullable=False),
        sa.Column("synced_notified", sa.Integer(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id"),
    )
    with op.batch_alter_table("microsoft_calendar", schema=None) as batch_op:
        batch_op.create_index(
            "ix_microsoft_calendar_subscription_id", ["subscription_id"], unique=False
        )
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_occurrence_event_id", ["event_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.drop_index("ix_occurrence_event_id")
        batch_op.drop_column("event_id")
    with op.batch_alter_table("microsoft_calendar", schema=None) as batch_op:
        batch_op.drop_index("ix_microsoft_calendar_subscription_id")
    op.drop_table("microsoft_calendar")
