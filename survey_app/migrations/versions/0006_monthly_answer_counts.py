"""answer_counts_monthly: answer counts summed per month, filled from the daily counts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 17:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEY = ["unit_id", "questionnaire_id", "question_key", "value", "counter_key", "channel", "entered_by"]


def upgrade():
    op.create_table(
        "answer_counts_monthly",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("question_key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("counter_key", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("entered_by", sa.String(length=8), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("weight_sum", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"],
            ["questionnaires.id"],
            name=op.f("fk_answer_counts_monthly_questionnaire_id_questionnaires"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_answer_counts_monthly_unit_id_units")
        ),
        sa.PrimaryKeyConstraint(
            "unit_id",
            "month",
            "questionnaire_id",
            "question_key",
            "value",
            "counter_key",
            "channel",
            "entered_by",
            name=op.f("pk_answer_counts_monthly"),
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        month = "CAST(date_trunc('month', local_day) AS DATE)"
    else:
        month = "date(local_day, 'start of month')"
    columns = ", ".join(KEY)
    op.execute(
        f"INSERT INTO answer_counts_monthly (month, {columns}, n, weight_sum) "
        f"SELECT {month}, {columns}, SUM(n), SUM(weight_sum) FROM answer_counts "
        f"GROUP BY {month}, {columns}"
    )


def downgrade():
    op.drop_table("answer_counts_monthly")
