"""index_moments per year too: a year's figures read one row per cell instead of twelve

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 18:10:00

"""

from collections import defaultdict
from datetime import date

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KEY = ("unit_id", "questionnaire_id", "counter_key", "channel", "entered_by")
HEADER_BYTES = 8  # analytics.IndexMoments.to_bytes: layout version and CRC, then float64 LE


def upgrade():
    with op.batch_alter_table("index_moments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_index_moments_granularity"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_index_moments_granularity"), "granularity IN ('day', 'month', 'year')"
        )
    # A year's cell is the sum of its months' cells: same layout (same questionnaire), so the
    # sum of the float64 arrays after the header, and of the respondent counts.
    moments = sa.table(
        "index_moments",
        *(sa.column(name) for name in (*KEY, "granularity", "period_start")),
        sa.column("respondents"),
        sa.column("moments", sa.LargeBinary),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(moments).where(moments.c.granularity == "month")
    ).mappings()
    years: dict[tuple, list] = defaultdict(lambda: [0, None, None])
    for row in rows:
        start = row["period_start"]
        year = date.fromisoformat(start).year if isinstance(start, str) else start.year
        cell = years[(*(row[name] for name in KEY), date(year, 1, 1))]
        data = np.frombuffer(row["moments"], dtype="<f8", offset=HEADER_BYTES)
        cell[0] += row["respondents"]
        cell[1] = data.copy() if cell[1] is None else cell[1] + data
        cell[2] = bytes(row["moments"][:HEADER_BYTES])
    inserts = [
        {
            **dict(zip(KEY, key[:-1], strict=True)),
            "granularity": "year",
            "period_start": key[-1],
            "respondents": respondents,
            "moments": header + data.astype("<f8").tobytes(),
        }
        for key, (respondents, data, header) in years.items()
    ]
    if inserts:
        op.bulk_insert(
            sa.table(
                "index_moments",
                *(sa.column(name) for name in (*KEY, "granularity")),
                sa.column("period_start", sa.Date),
                sa.column("respondents"),
                sa.column("moments", sa.LargeBinary),
            ),
            inserts,
        )


def downgrade():
    op.execute("DELETE FROM index_moments WHERE granularity = 'year'")
    with op.batch_alter_table("index_moments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_index_moments_granularity"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_index_moments_granularity"), "granularity IN ('day', 'month')"
        )
