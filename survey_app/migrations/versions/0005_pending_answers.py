"""responses.pending_answers: a submission stores one row; answers are settled in batches

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 17:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE ADD COLUMN on both databases (no table copy: responses may be millions).
    op.add_column("responses", sa.Column("pending_answers", sa.Text(), nullable=True))
    op.create_index(
        "ix_responses_pending",
        "responses",
        ["received_at"],
        unique=False,
        sqlite_where=sa.text("pending_answers IS NOT NULL"),
        postgresql_where=sa.text("pending_answers IS NOT NULL"),
    )


def downgrade():
    # Settle first (`flask settle`): pending answers would be lost with the column.
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_index("ix_responses_pending")
        batch_op.drop_column("pending_answers")
