"""deleted messages: tombstones of the DMs a person deleted

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deleted_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("message_ts", sa.String(length=32), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "user_id", "message_ts", name="uq_deleted_message"),
    )
    with op.batch_alter_table("deleted_message", schema=None) as batch_op:
        batch_op.create_index("ix_deleted_message_at", ["deleted_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deleted_message", schema=None) as batch_op:
        batch_op.drop_index("ix_deleted_message_at")
    op.drop_table("deleted_message")
