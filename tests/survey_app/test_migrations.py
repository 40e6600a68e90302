"""Migrations: one head, and `upgrade head` gives exactly the schema the models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from survey_app.extensions import db


def _script_directory(app) -> ScriptDirectory:
    config = app.extensions["migrate"].migrate.get_config(app.extensions["migrate"].directory)
    return ScriptDirectory.from_config(config)


def test_there_is_a_single_head(app):
    assert len(_script_directory(app).get_heads()) == 1


def test_upgrade_head_matches_the_models(app):
    """The session's database was built by `upgrade head` alone (tests/conftest.py)."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_the_database_is_at_head(app):
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    assert set(current) == set(_script_directory(app).get_heads())


def test_downgrade_to_base_and_back_up(app):
    db.session.remove()
    downgrade(revision="base")
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_heads() == ()
    upgrade()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_data_migrations_fill_what_the_new_tables_and_rows_summarise(app):
    """0006 fills the monthly answer counts from the daily ones, 0007 the yearly index moments
    from the monthly ones, 0008 the yearly answer counts from the monthly ones, 0009 the subtree
    sums from the index moments: on a database with data, each agrees with a recomputation
    after."""
    from sqlalchemy import func, select

    from survey_app.models import (
        Answer,
        IndexMoment,
        MonthlyAnswerCount,
        StaffScope,
        SubtreeMoment,
        YearlyAnswerCount,
    )
    from survey_app.services.counts import compare_answer_counts
    from survey_app.services.demo import ensure_demo_accounts, seed_demo
    from survey_app.services.moments import compare_index_moments

    seed_demo(400, seed=7)
    ensure_demo_accounts()
    db.session.commit()
    years = db.session.scalar(
        select(func.count()).select_from(IndexMoment).where(IndexMoment.granularity == "year")
    )
    assert years > 0
    # Rows of tables that reference a table a migration copies (SQLite's batch mode drops the
    # old one: with foreign keys on, ON DELETE CASCADE emptied these).
    kept = {
        model: db.session.scalar(select(func.count()).select_from(model))
        for model in (Answer, StaffScope)
    }
    assert all(kept.values()), kept
    db.session.remove()
    downgrade(revision="0005")  # drops the monthly and yearly counts and the yearly moments
    upgrade()
    assert {
        model: db.session.scalar(select(func.count()).select_from(model)) for model in kept
    } == kept
    assert db.session.scalar(select(func.count()).select_from(SubtreeMoment)) > 0
    assert db.session.scalar(select(func.count()).select_from(MonthlyAnswerCount)) > 0
    assert db.session.scalar(select(func.count()).select_from(YearlyAnswerCount)) > 0
    assert (
        db.session.scalar(
            select(func.count()).select_from(IndexMoment).where(IndexMoment.granularity == "year")
        )
        == years
    )
    assert compare_answer_counts()[1] == []
    assert compare_index_moments()[1] == []


def test_rate_limit_counts_write_no_wal_on_postgresql(app, backend):
    """Every keyed submission and sign-in counts a hit: on PostgreSQL that commit must not wait
    for a disk flush beside the response's own."""
    if backend != "postgresql":
        pytest.skip("SQLite has no unlogged tables: the count commits with the response")
    from sqlalchemy import text

    persistence = db.session.scalar(
        text("SELECT relpersistence FROM pg_class WHERE relname = 'rate_limit_hits'")
    )
    assert persistence == "u"
