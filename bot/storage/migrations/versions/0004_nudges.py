"""nudges

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompt_shown",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("prompt_id", sa.String(length=128), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("prompt_shown", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prompt_shown_delivery_id"), ["delivery_id"], unique=False
        )
        batch_op.create_index(
            "ix_prompt_shown_user", ["team_id", "user_id", "shown_at"], unique=False
        )

    with op.batch_alter_table("reflection", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_reflection_message", ["team_id", "user_id", "message_ts"]
        )


def downgrade() -> None:
    with op.batch_alter_table("reflection", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reflection_message", type_="unique")

    with op.batch_alter_table("prompt_shown", schema=None) as batch_op:
        batch_op.drop_index("ix_prompt_shown_user")
        batch_op.drop_index(batch_op.f("ix_prompt_shown_delivery_id"))

    op.drop_table("prompt_shown")
