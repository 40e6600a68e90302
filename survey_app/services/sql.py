"""Small SQL helpers shared by services: the few places where SQLite and PostgreSQL differ."""

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from survey_app.extensions import db


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
