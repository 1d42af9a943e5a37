"""google: Google Calendar connections (tokens, sync token, push channels) and the
single-use OAuth states of sign-ins in progress (``bot.sync.google``)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "google_calendar",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=320), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("sync_token", sa.Text(), nullable=True),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("channel_token", sa.Text(), nullable=True),
        sa.Column("resource_id", sa.String(length=255), nullable=True),
        sa.Column("channel_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message", sa.Integer(), nullable=False),
        sa.Column("old_channel_id", sa.String(length=64), nullable=True),
        sa.Column("old_channel_token", sa.Text(), nullable=True),
        sa.Column("old_resource_id", sa.String(length=255), nullable=True),
        sa.Column("old_last_message", sa.Integer(), nullable=False),
        sa.Column("synced_channel", sa.String(length=64), nullable=True),
        sa.Column("synced_message", sa.Integer(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id"),
    )
    with op.batch_alter_table("google_calendar", schema=None) as batch_op:
        batch_op.create_index("ix_google_calendar_channel_id", ["channel_id"], unique=False)
        batch_op.create_index("ix_google_calendar_old_channel_id", ["old_channel_id"], unique=False)
    op.create_table(
        "oauth_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("verifier", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("state_hash"),
    )


def downgrade() -> None:
    op.drop_table("oauth_state")
    with op.batch_alter_table("google_calendar", schema=None) as batch_op:
        batch_op.drop_index("ix_google_calendar_old_channel_id")
        batch_op.drop_index("ix_google_calendar_channel_id")
    op.drop_table("google_calendar")
