"""commitments: what a person meant to do next time, brought back before their next
meeting with the same people (``bot.commitments``)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commitment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("reflection_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("occurrence_key", sa.String(length=255), nullable=True),
        sa.Column("series_key", sa.String(length=255), nullable=False),
        sa.Column("people", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("quoted_for", sa.String(length=255), nullable=True),
        sa.Column("quoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "user_id", "reflection_id", name="uq_commitment_answer"),
    )
    with op.batch_alter_table("commitment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_commitment_owner", ["team_id", "user_id", "accepted_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("commitment", schema=None) as batch_op:
        batch_op.drop_index("ix_commitment_owner")
    op.drop_table("commitment")
