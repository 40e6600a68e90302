"""Small SQL helpers shared by services: the few places where SQLite and PostgreSQL differ."""

import json
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    String,
    Table,
    bindparam,
    cast,
    event,
    func,
    literal_column,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine

from survey_app.extensions import db

# The largest value an INTEGER column holds on PostgreSQL (ids, versions, years): a larger number
# from a request can name no row, and would overflow the driver if it reached a query.
MAX_INTEGER = 2**31 - 1


def find_by_id(model, row_id: int):
    """`db.session.get(model, row_id)`, and None for an id beyond MAX_INTEGER (no such row)."""
    return db.session.get(model, row_id) if abs(row_id) <= MAX_INTEGER else None


def upsert_insert(table: Table):
    """An INSERT that supports ON CONFLICT on the current database (SQLite ≥ 3.24, PostgreSQL)."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")


def bulk_insert(table: Table, rows: list[dict]) -> None:
    """Insert many rows set-wise: COPY on PostgreSQL, one executemany on SQLite.

    For bulk loads (demo data, imports), not for the request path.
    """
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        columns = list(rows[0])
        raw = connection.connection.driver_connection
        quoted = ", ".join(f'"{c}"' for c in columns)
        with (
            raw.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy,
        ):
            for row in rows:
                copy.write_row(tuple(row[c] for c in columns))
    else:
        connection.execute(table.insert(), rows)


# Execution option for queries that read many blobs (index moments): PostgreSQL sends the rows in
# its binary format. In the text format a bytea arrives hex-encoded, twice its size, and decoding
# it cost a province's 12-month trend more than the query itself (benchmarks/README.md).
BINARY_RESULTS = {"binary_results": True}


def install_binary_results(engine: Engine) -> None:
    """Let `BINARY_RESULTS` ask psycopg for binary rows on `engine` (PostgreSQL; elsewhere the
    option does nothing)."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "do_execute")
    def _binary_rows(cursor, statement, parameters, context) -> bool | None:
        if not context.execution_options.get("binary_results"):
            return None  # SQLAlchemy executes as usual
        cursor.execute(statement, parameters, binary=True)
        return True


def json_rows(name: str, columns: Sequence[ColumnElement]) -> tuple[FromClause, list]:
    """Rows sent as one JSON parameter `name` (an array of arrays, see `json_rows_parameter`):
    the FROM item, and one expression per element, typed like `columns`.

    Why: joined to a table on its key, each row is one index lookup on both databases, and the
    statement compiles once. On SQLite a multi-column `(a, b, …) IN ((…), …)` list scans the
    whole table instead; a VALUES list is compiled anew for every call (~14 ms for 200 keys)."""
    parameter = bindparam(name, type_=String)
    if db.session.get_bind().dialect.name == "postgresql":
        rows = func.jsonb_array_elements(cast(parameter, JSONB)).table_valued("value")
        return rows, [
            cast(rows.c.value.op("->>")(literal_column(str(i))), column.type)
            for i, column in enumerate(columns)
        ]
    rows = func.json_each(parameter).table_valued("value")
    return rows, [
        func.json_extract(rows.c.value, literal_column(f"'$[{i}]'")) for i in range(len(columns))
    ]


def json_rows_parameter(rows: Iterable[Sequence[Any]]) -> str:
    """The value for `json_rows`' parameter: dates as ISO text (as SQLite stores them)."""
    return json.dumps([[_json_value(value) for value in row] for row in rows])


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
