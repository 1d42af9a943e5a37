"""occurrence people, and the new default for questions a day

The other people invited to a meeting (``occurrence.people``), for ranking a first
meeting with someone (``bot.planner``). And ``max_reflections_per_day`` leaves the
stored preferences: no form or command ever offered it before this revision, so a stored
value is the old default (4) written out with the other settings, not a choice, and the
new default (2) applies.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OLD_DEFAULT = 4


def upgrade() -> None:
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("people", sa.JSON(), nullable=False, server_default="[]"))
    users = sa.table("slack_user", sa.column("id", sa.Integer()), sa.column("prefs", sa.JSON()))
    conn = op.get_bind()
    for row in conn.execute(sa.select(users.c.id, users.c.prefs)).all():
        prefs = dict(row.prefs or {})
        if prefs.get("max_reflections_per_day") == OLD_DEFAULT:
            del prefs["max_reflections_per_day"]
            conn.execute(sa.update(users).where(users.c.id == row.id).values(prefs=prefs))


def downgrade() -> None:
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.drop_column("people")
