"""attributable channels and server-side sessions: API keys that submit responses (and the
response's api_key_id), the officer role, serials, sample codes and dossier codes unique per unit,
staff_sessions; sign-in throttling moves from the account's columns to rate limits, whose table
is unlogged on PostgreSQL

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 23:30:00

"""

import sqlalchemy as sa
from alembic import op

import survey_app.timeutil

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_constraint(op.f("ck_api_keys_purpose"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_api_keys_purpose"), "purpose IN ('dossier_codes', 'read_figures', 'submit_responses')"
        )

    with op.batch_alter_table("responses") as batch_op:
        batch_op.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_responses_api_key_id_api_keys"), "api_keys", ["api_key_id"], ["id"]
        )
        batch_op.create_index(op.f("ix_responses_api_key_id"), ["api_key_id"], unique=False)

    with op.batch_alter_table("staff_scopes") as batch_op:
        batch_op.drop_constraint(op.f("ck_staff_scopes_role"), type_="check")
        batch_op.create_check_constraint(op.f("ck_staff_scopes_role"), "role IN ('manager', 'officer', 'viewer')")

    with op.batch_alter_table("paper_form_entries") as batch_op:
        batch_op.drop_constraint(op.f("uq_paper_form_entries_year_serial_entry_round"), type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_paper_form_entries_unit_id_year_serial_entry_round"),
            ["unit_id", "year", "serial", "entry_round"],
        )

    with op.batch_alter_table("sample_codes") as batch_op:
        batch_op.drop_constraint(op.f("uq_sample_codes_year_code"), type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_sample_codes_unit_id_year_code"), ["unit_id", "year", "code"]
        )

    with op.batch_alter_table("dossier_ratings") as batch_op:
        batch_op.drop_constraint(op.f("uq_dossier_ratings_dossier_code"), type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_dossier_ratings_unit_id_dossier_code"), ["unit_id", "dossier_code"]
        )

    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "started_at", survey_app.timeutil.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_seen_at", survey_app.timeutil.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("ended_at", survey_app.timeutil.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["staff_accounts.id"],
            name=op.f("fk_staff_sessions_account_id_staff_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    with op.batch_alter_table("staff_sessions") as batch_op:
        batch_op.create_index(op.f("ix_staff_sessions_account_id"), ["account_id"], unique=False)

    # Rate limits are counted on every keyed submission and sign-in: on PostgreSQL their table
    # writes no WAL, so counting never waits for a disk flush (a crash forgets the counts of
    # the current windows, which costs nothing).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE rate_limit_hits SET UNLOGGED")

    # Sessions are rows of staff_sessions now, and failed sign-ins are rate limits: every
    # session signed in before this migration ends (its cookie names no row).
    with op.batch_alter_table("staff_accounts") as batch_op:
        batch_op.drop_column("session_token")
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("locked_until")


def downgrade():
    # Serials, sample codes and dossier codes are unique per unit from 0010 on: if two units
    # have used the same one since, the unique constraints of 0009 cannot be restored until one
    # of the two is renamed or removed (the downgrade then stops with the database's error).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE rate_limit_hits SET LOGGED")

    with op.batch_alter_table("staff_accounts") as batch_op:
        batch_op.add_column(
            sa.Column("locked_until", survey_app.timeutil.UTCDateTime(timezone=True))
        )
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("session_token", sa.String(length=64), nullable=False, server_default="")
        )
    # Every account gets a token of its own (an empty one would match an empty cookie part).
    op.execute("UPDATE staff_accounts SET session_token = 'downgraded-' || CAST(id AS VARCHAR(20))")

    with op.batch_alter_table("staff_sessions") as batch_op:
        batch_op.drop_index(op.f("ix_staff_sessions_account_id"))
    op.drop_table("staff_sessions")

    with op.batch_alter_table("dossier_ratings") as batch_op:
        batch_op.drop_constraint(op.f("uq_dossier_ratings_unit_id_dossier_code"), type_="unique")
        batch_op.create_unique_constraint(op.f("uq_dossier_ratings_dossier_code"), ["dossier_code"])

    with op.batch_alter_table("sample_codes") as batch_op:
        batch_op.drop_constraint(op.f("uq_sample_codes_unit_id_year_code"), type_="unique")
        batch_op.create_unique_constraint(op.f("uq_sample_codes_year_code"), ["year", "code"])

    with op.batch_alter_table("paper_form_entries") as batch_op:
        batch_op.drop_constraint(
            op.f("uq_paper_form_entries_unit_id_year_serial_entry_round"), type_="unique"
        )
        batch_op.create_unique_constraint(
            op.f("uq_paper_form_entries_year_serial_entry_round"), ["year", "serial", "entry_round"]
        )

    op.execute("UPDATE staff_scopes SET role = 'viewer' WHERE role = 'officer'")
    with op.batch_alter_table("staff_scopes") as batch_op:
        batch_op.drop_constraint(op.f("ck_staff_scopes_role"), type_="check")
        batch_op.create_check_constraint(op.f("ck_staff_scopes_role"), "role IN ('manager', 'viewer')")

    with op.batch_alter_table("responses") as batch_op:
        batch_op.drop_index(op.f("ix_responses_api_key_id"))
        batch_op.drop_constraint(op.f("fk_responses_api_key_id_api_keys"), type_="foreignkey")
        batch_op.drop_column("api_key_id")

    op.execute("DELETE FROM api_keys WHERE purpose = 'submit_responses'")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_constraint(op.f("ck_api_keys_purpose"), type_="check")
        batch_op.create_check_constraint(op.f("ck_api_keys_purpose"), "purpose IN ('dossier_codes', 'read_figures')")
