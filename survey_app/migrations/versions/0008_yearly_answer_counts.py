"""answer_counts_yearly: answer counts summed per year, filled from the monthly sums

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 18:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

KEY = ["unit_id", "questionnaire_id", "question_key", "value", "counter_key", "channel", "entered_by"]


def upgrade():
    op.create_table(
        "answer_counts_yearly",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Date(), nullable=False),
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
            name=op.f("fk_answer_counts_yearly_questionnaire_id_questionnaires"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_answer_counts_yearly_unit_id_units")
        ),
        sa.PrimaryKeyConstraint(
            "unit_id",
            "year",
            "questionnaire_id",
            "question_key",
            "value",
            "counter_key",
            "channel",
            "entered_by",
            name=op.f("pk_answer_counts_yearly"),
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        year = "CAST(date_trunc('year', month) AS DATE)"
    else:
        year = "date(month, 'start of year')"
    columns = ", ".join(KEY)
    op.execute(
        f"INSERT INTO answer_counts_yearly (year, {columns}, n, weight_sum) "
        f"SELECT {year}, {columns}, SUM(n), SUM(weight_sum) FROM answer_counts_monthly "
        f"GROUP BY {year}, {columns}"
    )


def downgrade():
    op.drop_table("answer_counts_yearly")
