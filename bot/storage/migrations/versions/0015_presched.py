"""pre-scheduling with Slack (``bot.prescheduler``): a delivery's scheduled message id and
whether it must be posted directly, and the queue of scheduled messages to delete

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheduled_message_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("scheduled_hash", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("direct", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "slack_unschedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("scheduled_message_id", sa.String(length=64), nullable=False),
        sa.Column("post_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "scheduled_message_id", name="uq_slack_unschedule"),
    )
    op.create_index("ix_slack_unschedule_due", "slack_unschedule", ["available_at"])


def downgrade() -> None:
    op.drop_index("ix_slack_unschedule_due", table_name="slack_unschedule")
    op.drop_table("slack_unschedule")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("direct")
        batch_op.drop_column("scheduled_hash")
        batch_op.drop_column("scheduled_message_id")
