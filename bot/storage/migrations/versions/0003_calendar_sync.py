"""calendar sync: feed retry state and webhook sources

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_source", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("expanded_until", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "webhook_source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_source", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_source_team_id", ["team_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_source", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_source_team_id")
    op.drop_table("webhook_source")

    with op.batch_alter_table("calendar_source", schema=None) as batch_op:
        batch_op.drop_column("expanded_until")
        batch_op.drop_column("failures")
