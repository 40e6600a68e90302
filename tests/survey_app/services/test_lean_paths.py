"""The leaner database paths of issue 9: a submission stored on a connection of its own (each
statement committing by itself on PostgreSQL), and blob-heavy reads in PostgreSQL's binary format.
Both must change cost only, never what is stored or read."""

from datetime import date

import psycopg
from sqlalchemy import LargeBinary, String, literal, select, update

from survey_app.extensions import db
from survey_app.models import Response, Unit
from survey_app.services.sql import BINARY_RESULTS
from survey_app.services.submissions import storing_connection
from tests.survey_app.payloads import counter_payload


def _values():
    return select(
        literal(b"\x00\xffmoments\x00", LargeBinary).label("blob"),
        literal(date(2026, 11, 23)).label("day"),
        literal("Phường Tân Định", String).label("name"),
        literal(41).label("respondents"),
    )


def test_binary_results_read_the_same_values(app, backend):
    text_result = db.session.execute(_values())
    if backend == "postgresql":
        assert text_result.cursor.pgresult.fformat(0) == 0  # without the option: text rows
    plain = text_result.one()
    result = db.session.execute(_values().execution_options(**BINARY_RESULTS))
    if backend == "postgresql":
        assert result.cursor.pgresult.fformat(0) == 1  # psycopg was asked for binary rows
    binary = result.one()
    assert binary == plain == (b"\x00\xffmoments\x00", date(2026, 11, 23), "Phường Tân Định", 41)
    assert type(binary.blob) is bytes


def _stored_ids() -> set[str]:
    db.session.rollback()
    return {str(i) for i in db.session.scalars(select(Response.id))}


def test_an_api_submission_is_committed_when_it_is_acknowledged(client, tree):
    payload = counter_payload()
    assert client.post("/api/v1/responses", json=payload).status_code == 201
    # Seen from another connection at once: nothing waits for a later commit.
    assert payload["id"] in _stored_ids()


def test_a_refused_submission_leaves_no_row_and_the_pool_in_its_usual_mode(client, tree, backend):
    refused = counter_payload(unit="NO-SUCH-UNIT")
    assert client.post("/api/v1/responses", json=refused).status_code == 422
    assert refused["id"] not in _stored_ids()
    # The pool's connections are back in their usual mode: the ORM session's transactions
    # (everything but the API's submissions) still begin, commit and roll back.
    idle = [db.engine.raw_connection() for _ in range(db.engine.pool.checkedin())]
    try:
        if backend == "postgresql":
            assert idle and not any(c.driver_connection.autocommit for c in idle)
    finally:
        for connection in idle:
            connection.close()
    ward = db.session.get(Unit, tree.ward.id)
    ward.name_vi = "đổi rồi bỏ"
    db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(Unit.name_vi).where(Unit.id == tree.ward.id)) == "Phường An Lạc"


def test_storing_connection_commits_each_statement_on_postgresql(app, backend, tree):
    renamed = update(Unit).where(Unit.id == tree.ward.id).values(name_vi="Phường Mới")
    with storing_connection() as connection:
        connection.execute(renamed)
        if backend == "postgresql":
            # Committed by itself already: the server holds no open transaction.
            status = connection.connection.driver_connection.info.transaction_status
            assert status == psycopg.pq.TransactionStatus.IDLE
    db.session.rollback()
    assert db.session.scalar(select(Unit.name_vi).where(Unit.id == tree.ward.id)) == "Phường Mới"
