"""The leaner database paths of issue 9: a submission stored on a connection of its own (each
statement committing by itself on PostgreSQL), and blob-heavy reads in PostgreSQL's binary format.
Both must change cost only, never what is stored or read."""

import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import LargeBinary, String, func, literal, select, text, update
from sqlalchemy.exc import IntegrityError

from survey_app.extensions import db, storing_engine
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


def test_an_api_submission_is_committed_when_it_is_acknowledged(api_client, tree):
    payload = counter_payload()
    assert api_client.post("/api/v1/responses", json=payload).status_code == 201
    # Seen from another connection at once: nothing waits for a later commit.
    assert payload["id"] in _stored_ids()


def test_a_refused_submission_leaves_no_row_and_sessions_their_transactions(api_client, tree):
    refused = counter_payload(unit="NO-SUCH-UNIT")
    assert api_client.post("/api/v1/responses", json=refused).status_code == 422
    assert refused["id"] not in _stored_ids()
    # The ORM session's transactions (everything but the API's submissions) still begin, commit
    # and roll back.
    ward = db.session.get(Unit, tree.ward.id)
    ward.name_vi = "đổi rồi bỏ"
    db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(Unit.name_vi).where(Unit.id == tree.ward.id)) == "Phường An Lạc"


def test_postgresql_stores_on_an_engine_of_its_own_and_sqlite_on_its_one_engine(app, backend):
    engine = storing_engine()
    if backend == "sqlite":
        assert engine is db.engine  # its writers take turns on the one engine (write_turns.py)
        return
    assert engine is not db.engine and engine.url == db.engine.url
    with engine.connect() as storing, db.engine.connect() as usual:
        assert storing.connection.driver_connection.autocommit
        assert not usual.connection.driver_connection.autocommit


def test_a_storing_connection_the_server_dropped_is_replaced_and_the_response_stored_once(
    api_client, tree, backend
):
    if backend != "postgresql":
        pytest.skip("SQLite has no server to drop a connection")
    assert api_client.post("/api/v1/responses", json=counter_payload()).status_code == 201
    with storing_engine().connect() as connection:  # the one the pool keeps for the next request
        pid = connection.connection.driver_connection.info.backend_pid
    db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    db.session.commit()

    payload = counter_payload()
    response = api_client.post("/api/v1/responses", json=payload)
    assert response.status_code == 201, response.json
    assert response.json == {"id": payload["id"], "status": "created"}
    assert db.session.scalar(select(func.count()).where(Response.id == payload["id"])) == 1
    with storing_engine().connect() as connection:
        assert connection.connection.driver_connection.info.backend_pid != pid


def test_storing_connection_commits_each_statement_on_postgresql(app, backend, tree):
    with storing_connection() as connection:
        if backend == "postgresql":
            connection.execute(
                "UPDATE units SET name_vi = %(name)s WHERE id = %(id)s",
                {"name": "Phường Mới", "id": tree.ward.id},
            )
            # Committed by itself already: the server holds no open transaction.
            status = connection.pooled.dbapi_connection.info.transaction_status
            assert status == psycopg.pq.TransactionStatus.IDLE
        else:
            connection.execute(
                update(Unit).where(Unit.id == tree.ward.id).values(name_vi="Phường Mới")
            )
    db.session.rollback()
    assert db.session.scalar(select(Unit.name_vi).where(Unit.id == tree.ward.id)) == "Phường Mới"


def test_a_driver_error_on_the_storing_connection_is_sqlalchemys_and_keeps_the_connection(
    api_client, backend, tree
):
    """PostgreSQL's storing connection talks to the driver itself: its errors must still arrive
    as SQLAlchemy's (the retry in submit_alone reads them), and an error that did not lose the
    connection must not discard it."""
    if backend != "postgresql":
        pytest.skip("SQLite stores through SQLAlchemy's own Connection")
    with storing_connection() as connection:
        pid = connection.pooled.dbapi_connection.info.backend_pid
        with pytest.raises(IntegrityError) as refused:
            connection.execute(
                "UPDATE units SET parent_id = %(missing)s WHERE id = %(id)s",
                {"missing": 987654, "id": tree.ward.id},
            )
        assert not refused.value.connection_invalidated
        assert isinstance(refused.value.orig, psycopg.errors.ForeignKeyViolation)

    payload = counter_payload()
    assert api_client.post("/api/v1/responses", json=payload).status_code == 201
    with storing_connection() as connection:  # the same server connection, kept by the pool
        assert connection.pooled.dbapi_connection.info.backend_pid == pid
    assert payload["id"] in _stored_ids()


def test_the_api_stores_the_same_row_as_the_session_path(app, tree):
    """On PostgreSQL the API's INSERT (submit_alone) goes to the driver as compiled SQL; the
    values it stores (id, times, day, codes, answers) must be those SQLAlchemy's own path stores.
    A queued time is given to both, to check the local day (over HTTP only kiosks send one)."""
    from survey_app.services.submissions import submit_alone, submit_response

    # Yesterday 17:30 UTC: 00:30 the next day in Vietnam, so the local day is not the UTC one.
    moment = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=17, minute=30, second=0, microsecond=0
    )
    through_api = counter_payload(submitted_at=moment.isoformat(), locale="en")
    assert submit_alone(through_api, channel="web", queued_offline=True).created
    through_session = {**through_api, "id": counter_payload()["id"]}
    submit_response(through_session, channel="web", queued_offline=True)
    db.session.commit()

    def stored(response_id: str) -> dict:
        row = db.session.get(Response, uuid.UUID(response_id))
        return {
            column.key: getattr(row, column.key)
            for column in Response.__table__.columns
            if column.key not in ("id", "received_at")
        }

    db.session.expire_all()
    api_row = stored(through_api["id"])
    assert api_row == stored(through_session["id"])
    assert api_row["submitted_at"] == moment
    assert api_row["local_day"] == moment.date() + timedelta(days=1)
    assert api_row["counter_id"] is not None and api_row["locale"] == "en"
    assert str(db.session.get(Response, uuid.UUID(through_api["id"])).id) == through_api["id"]
