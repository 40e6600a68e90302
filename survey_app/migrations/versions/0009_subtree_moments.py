"""subtree_moments: index moments summed over each unit's subtree and counters, filled from
index_moments

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 05:00:00

"""

import itertools
from collections import defaultdict
from datetime import date

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The subtree key (counter_key is summed away), in the primary key's order.
KEY = ("unit_id", "granularity", "period_start", "questionnaire_id", "channel", "entered_by")
HEADER_BYTES = 8  # analytics.IndexMoments.to_bytes: layout version and CRC, then float64 LE


def upgrade():
    op.create_table(
        "subtree_moments",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("granularity", sa.String(length=5), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("entered_by", sa.String(length=8), nullable=False),
        sa.Column("respondents", sa.Integer(), nullable=False),
        sa.Column("moments", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "granularity IN ('day', 'month', 'year')", name=op.f("ck_subtree_moments_granularity")
        ),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"],
            ["questionnaires.id"],
            name=op.f("fk_subtree_moments_questionnaire_id_questionnaires"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_subtree_moments_unit_id_units")
        ),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_subtree_moments")),
    )
    # Every cell adds to the subtree of each unit on its unit's path. Cells of one questionnaire
    # share a layout, so a sum is the sum of the float64 arrays after the header. One period at
    # a time: memory follows one day's (month's, year's) cells.
    bind = op.get_bind()
    paths = dict(bind.execute(sa.text("SELECT id, path FROM units")).all())
    cells = bind.execute(
        sa.text(
            "SELECT unit_id, granularity, period_start, questionnaire_id, channel, entered_by, "
            "respondents, moments FROM index_moments "
            "ORDER BY questionnaire_id, granularity, period_start"
        ),
        execution_options={"stream_results": True, "yield_per": 2000},
    ).mappings()
    target = sa.table(
        "subtree_moments",
        *(sa.column(name) for name in KEY if name != "period_start"),
        sa.column("period_start", sa.Date),
        sa.column("respondents"),
        sa.column("moments", sa.LargeBinary),
    )
    periods = itertools.groupby(
        cells, key=lambda c: (c["questionnaire_id"], c["granularity"], c["period_start"])
    )
    for _, period in periods:
        sums: dict[tuple, list] = defaultdict(lambda: [0, None, None])
        for cell in period:
            blob = bytes(cell["moments"])
            data = np.frombuffer(blob, dtype="<f8", offset=HEADER_BYTES)
            for part in cell_path(paths[cell["unit_id"]]):
                key = (part, *(cell[name] for name in KEY[1:]))  # period as stored
                total = sums[key]
                total[0] += cell["respondents"]
                total[1] = data.copy() if total[1] is None else total[1] + data
                total[2] = blob[:HEADER_BYTES]
        op.bulk_insert(
            target,
            [
                {
                    **dict(zip(KEY, key, strict=True)),
                    "period_start": as_date(key[2]),
                    "respondents": respondents,
                    "moments": header + data.astype("<f8").tobytes(),
                }
                for key, (respondents, data, header) in sums.items()
            ],
        )


def as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value  # SQLite: text


def cell_path(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def downgrade():
    op.drop_table("subtree_moments")
