"""responses.complete: false when a citizen left a long form unfinished and the kiosk sent what
was answered; a partial index finds them per unit and day

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 02:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN with a default (no batch copy of the largest table): every response
    # stored so far was complete.
    op.add_column(
        "responses",
        sa.Column("complete", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.create_index(
        op.f("ix_responses_incomplete"),
        "responses",
        ["unit_id", "local_day"],
        unique=False,
        sqlite_where=sa.text("NOT complete"),
        postgresql_where=sa.text("NOT complete"),
    )


def downgrade():
    op.drop_index(
        op.f("ix_responses_incomplete"),
        table_name="responses",
        sqlite_where=sa.text("NOT complete"),
        postgresql_where=sa.text("NOT complete"),
    )
    with op.batch_alter_table("responses") as batch_op:
        batch_op.drop_column("complete")
