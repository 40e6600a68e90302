"""Settling reads the stored moment rows it adds to by their keys, sent as one JSON parameter
(services/sql.json_rows): exactly the stored rows among the keys asked for, each found through
the primary key, never by scanning the table."""

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select

from survey_app.extensions import db
from survey_app.models import IndexMoment, SubtreeMoment
from survey_app.services.moments import (
    _CELLS,
    _SUBTREES,
    MomentCell,
    SubtreeCell,
    _stored_rows,
    _stored_rows_query,
)
from survey_app.services.sql import json_rows_parameter
from tests.survey_app.services.test_subtree_moments import submit_spread

PLACES = [("P-W1", "Q1"), ("P-W1", "Q2"), ("P-C1", "Q1")]


def stored(model, cell_type) -> dict:
    """Every row of a moments table, read through the ORM: key → (respondents, moments)."""
    columns = [field for field in cell_type.__dataclass_fields__]
    return {
        cell_type(*(getattr(row, name) for name in columns)): (row.respondents, row.moments)
        for row in db.session.scalars(select(model))
    }


@pytest.mark.parametrize(
    ("store", "model", "cell_type"),
    [(_CELLS, IndexMoment, MomentCell), (_SUBTREES, SubtreeMoment, SubtreeCell)],
    ids=["index_moments", "subtree_moments"],
)
def test_the_stored_rows_of_the_keys_asked_for_and_no_others(tree, store, model, cell_type):
    submit_spread(12, PLACES)
    everything = stored(model, cell_type)
    assert len(everything) >= 6
    some = sorted(everything, key=store.key_of)[::2]
    absent = [
        replace(some[0], period_start=date(2001, 1, 1)),  # a day nobody answered
        replace(some[0], channel="interviewer"),  # a channel nobody used
        replace(some[0], unit_id=some[0].unit_id + 1000),  # no such unit
    ]

    found = _stored_rows(store, [*some, *absent])

    assert found == {cell: everything[cell] for cell in some}
    assert _stored_rows(store, []) == {}


def test_each_key_is_looked_up_in_the_primary_key_not_by_a_scan(app, backend, tree):
    """A multi-column `(a, b, …) IN ((…), …)` list made SQLite scan every row of the table in
    every settling batch; the plan must search the primary key instead."""
    if backend != "sqlite":
        pytest.skip("SQLite's plan: PostgreSQL used its primary key for the IN list too")
    submit_spread(6, PLACES)
    for store, model in ((_CELLS, IndexMoment), (_SUBTREES, SubtreeMoment)):
        query = _stored_rows_query(store).compile(db.engine)
        keys = json_rows_parameter(map(store.key_of, stored(model, store.cell)))
        plan = [
            row[-1]
            for row in db.session.connection().exec_driver_sql(
                f"EXPLAIN QUERY PLAN {query}", (keys,)
            )
        ]
        table = store.table.name
        assert any(step.startswith(f"SEARCH {table} USING") for step in plan), plan
        assert not any(step.startswith(f"SCAN {table}") for step in plan), plan
