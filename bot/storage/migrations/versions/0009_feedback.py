"""feedback from others: opted-in series, meetings to ask about, weekly tallies, ballots,
opt-outs and the workspace's hashing secret (``bot.feedback``)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("series_key", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "user_id", "series_key", name="uq_feedback_series"),
    )
    op.create_table(
        "feedback_meeting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("occurrence_key", sa.String(length=255), nullable=False),
        sa.Column("series_key", sa.String(length=255), nullable=False),
        sa.Column("people", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("week", sa.String(length=10), nullable=True),
        sa.Column("asked", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "user_id", "occurrence_key", name="uq_feedback_meeting"),
    )
    with op.batch_alter_table("feedback_meeting", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_meeting_state", ["state", "not_before"], unique=False)
    op.create_table(
        "feedback_tally",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("leader_id", sa.String(length=32), nullable=False),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("heard", sa.Integer(), nullable=False),
        sa.Column("somewhat", sa.Integer(), nullable=False),
        sa.Column("not_heard", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=True),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "leader_id", "week", name="uq_feedback_tally"),
    )
    with op.batch_alter_table("feedback_tally", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_tally_closes", ["closed_at", "closes_at"], unique=False)
    op.create_table(
        "feedback_ballot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("leader_id", sa.String(length=32), nullable=False),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("ballot", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "ballot", name="uq_feedback_ballot"),
    )
    with op.batch_alter_table("feedback_ballot", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedback_ballot_week", ["team_id", "leader_id", "week"], unique=False
        )
    op.create_table(
        "feedback_opt_out",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "person", name="uq_feedback_opt_out"),
    )
    op.create_table(
        "feedback_key",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id"),
    )


def downgrade() -> None:
    op.drop_table("feedback_key")
    op.drop_table("feedback_opt_out")
    with op.batch_alter_table("feedback_ballot", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_ballot_week")
    op.drop_table("feedback_ballot")
    with op.batch_alter_table("feedback_tally", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_tally_closes")
    op.drop_table("feedback_tally")
    with op.batch_alter_table("feedback_meeting", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_meeting_state")
    op.drop_table("feedback_meeting")
    op.drop_table("feedback_series")
