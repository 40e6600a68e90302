"""Settling: a submission stores one row; its answers reach the answer rows, counts and moments
exactly once, whoever settles them (readers, the background thread, concurrent settlers). And
the per-process cache of the codes a submission names."""

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, event, func, insert, select, update

from survey_app import create_app
from survey_app.errors import ValidationError
from survey_app.extensions import db, dispose_engines
from survey_app.models import Answer, AnswerCount, Counter, IndexMoment, Response, Unit
from survey_app.services.counts import compare_answer_counts
from survey_app.services.figures import FigureBuilder, Filters
from survey_app.services.moments import compare_index_moments
from survey_app.services.periods import period_of
from survey_app.services.rollup import (
    CHECKPOINT_AFTER_BATCHES_OF,
    SETTLING_LOCK_KEY,
    pending_count,
    settle_batch,
    settle_pending,
)
from survey_app.services.submissions import submit_response
from survey_app.settler import stop_settler
from tests.conftest import make_config
from tests.survey_app.conftest import key_client
from tests.survey_app.payloads import counter_payload, quick_payload

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def submit_many(n: int, payload=counter_payload, **kwargs) -> list[uuid.UUID]:
    ids = []
    for i in range(n):
        body = payload(**kwargs)
        if "answers" in body and "c9_24" in body["answers"]:
            body["answers"]["c9_24"] = 1 + i % 5  # varied values: several count cells
        ids.append(submit_response(body, channel="web", now=NOW).response_id)
    db.session.commit()
    return ids


def table_count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def assert_consistent() -> None:
    """Counts and moments equal a recomputation from the answer rows, nothing left pending."""
    assert pending_count() == 0
    assert compare_answer_counts()[1] == []
    assert compare_index_moments()[1] == []


def test_a_submission_writes_one_row_and_settling_adds_its_answers_once(app, tree):
    submit_many(3, counter_payload, unit="P-W1", counter="Q1")

    assert table_count(Response) == 3
    assert (table_count(Answer), table_count(AnswerCount), table_count(IndexMoment)) == (0, 0, 0)
    assert pending_count() == 3

    assert settle_pending() == 3
    assert settle_pending() == 0  # nothing is settled twice
    answers_per_response = db.session.execute(
        select(Answer.response_id, func.count()).group_by(Answer.response_id)
    ).all()
    assert len(answers_per_response) == 3
    assert {n for _, n in answers_per_response} == {len(counter_payload()["answers"])}
    assert (
        table_count(IndexMoment) == 3
    )  # one cell for its day, one for its month, one for its year
    assert_consistent()


def test_settling_in_batches_gives_the_same_counts_as_one_batch(app, tree):
    submit_many(25, counter_payload, unit="P-W1", counter="Q1")
    submit_many(5, quick_payload, unit="P-W1", counter="Q2")

    assert settle_pending(batch_size=4, max_batches=2) == 8
    assert pending_count() == 22
    assert settle_pending(batch_size=4) == 22
    assert_consistent()
    total = db.session.scalar(
        select(func.sum(AnswerCount.n)).where(AnswerCount.question_key == "c9_24")
    )
    assert total == 25


def test_a_rejected_submission_leaves_nothing_pending(app, tree):
    with pytest.raises(ValidationError):
        submit_response(quick_payload(answers={"rating": 9}), channel="web", now=NOW)
    db.session.rollback()
    assert pending_count() == 0 and table_count(Response) == 0


def test_figures_include_responses_not_yet_settled(app, tree):
    """A reader settles first: the dashboard never misses an acknowledged response."""
    submit_many(4, quick_payload, unit="P-W1", counter="Q1")
    assert pending_count() == 4

    builder = FigureBuilder(
        [tree.province], Filters("quick-rating", period_of("today", NOW.date()), min_n=1)
    )
    assert builder.for_units()[0].headline.n == 4
    assert pending_count() == 0
    assert_consistent()


def test_settling_one_response_inside_a_transaction(app, tree):
    """Staff entry settles the response it is about without committing (double entry reads it)."""
    first, second = submit_many(2, quick_payload, unit="P-W1")

    assert settle_batch(10, only_ids=[second]) == 1
    db.session.rollback()  # the caller's transaction decides
    assert pending_count() == 2
    assert settle_batch(10, only_ids=[second]) == 1
    db.session.commit()
    assert pending_count() == 1
    assert db.session.scalar(select(Response.pending_answers).where(Response.id == first))


def run_settlers(database_url: str, count: int, batch_size: int) -> list[int]:
    """`count` settlers at once, each with its own app, session and connection. The apps are
    built here, one after another: building them in threads at once can trip a CPython 3.11.7 bug
    in `ast` (SystemError: AST constructor recursion depth mismatch, gh-106905)."""
    results: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(count, timeout=60)
    apps = [create_app(make_config(database_url)) for _ in range(count)]

    def settle(app) -> None:
        with app.app_context():
            try:
                start.wait()
                results.append(settle_pending(batch_size=batch_size))
            except BaseException as error:  # reported below, not lost in the thread
                errors.append(error)
            finally:
                db.session.remove()
                dispose_engines()

    threads = [threading.Thread(target=settle, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_concurrent_settlers_count_every_response_exactly_once(app, tree, database_url):
    submit_many(120, counter_payload, unit="P-W1", counter="Q1")
    submit_many(60, quick_payload, unit="P-C1", counter="Q1")
    db.session.remove()

    settled = run_settlers(database_url, count=3, batch_size=7)

    assert sum(settled) == 180
    assert db.session.scalar(select(func.count(func.distinct(Answer.response_id)))) == 180
    assert_consistent()


def test_the_background_settler_settles_without_a_reader(database_url, shipped_definitions, tree):
    """A server process settles on its own, every SETTLE_INTERVAL_SECONDS."""
    server = create_app(make_config(database_url, SETTLE_INTERVAL_SECONDS=0.05))
    client = key_client(server, tree.province)
    payload = quick_payload(unit="P-W1", counter="Q1")
    assert client.post("/api/v1/responses", json=payload).status_code == 201
    assert server.extensions["survey_settler"].is_alive()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and pending_count() > 0:
            db.session.rollback()  # a fresh snapshot each look
            time.sleep(0.05)
        assert pending_count() == 0
        answer = db.session.scalar(
            select(Answer.value).where(Answer.response_id == uuid.UUID(payload["id"]))
        )
        assert answer == payload["answers"]["rating"]
        assert_consistent()
    finally:
        stop_settler(server)
        with server.app_context():
            dispose_engines()


def test_a_unit_deactivated_here_is_refused_at_once(app, tree, api_client):
    assert api_client.post("/api/v1/responses", json=quick_payload(unit="P-W1")).status_code == 201
    tree.ward.active = False
    db.session.commit()

    refused = api_client.post("/api/v1/responses", json=quick_payload(unit="P-W1"))
    assert refused.status_code == 422
    assert "no longer active" in refused.get_data(as_text=True)


def test_another_process_s_change_applies_within_the_cache_time(
    app, tree, api_client, database_url
):
    app.config["CATALOGUE_CACHE_SECONDS"] = 0.3
    app.extensions.pop("survey_catalogue", None)
    assert api_client.post("/api/v1/responses", json=quick_payload(unit="P-W1")).status_code == 201
    other_process = create_engine(database_url)
    with other_process.begin() as connection:
        connection.execute(update(Unit.__table__).where(Unit.code == "P-W1").values(active=False))
    other_process.dispose()

    time.sleep(0.4)
    refused = api_client.post("/api/v1/responses", json=quick_payload(unit="P-W1"))
    assert refused.status_code == 422


def insert_as_another_process(database_url: str, table, **values) -> None:
    """A row written by another server process: this process's catalogue has not seen it."""
    other_process = create_engine(database_url)
    with other_process.begin() as connection:
        connection.execute(insert(table).values(**values))
    other_process.dispose()


def test_a_counter_another_process_adds_is_accepted_at_once(app, tree, api_client, database_url):
    """Every counter is cached together; a code not among them is looked up alone."""
    assert api_client.post("/api/v1/responses", json=quick_payload(counter="Q1")).status_code == 201
    insert_as_another_process(
        database_url,
        Counter.__table__,
        unit_id=tree.ward.id,
        code="Q3",
        name_vi="Quầy 3",
        name_en="Counter 3",
        active=True,
    )

    assert api_client.post("/api/v1/responses", json=quick_payload(counter="Q3")).status_code == 201
    assert api_client.post("/api/v1/responses", json=quick_payload(counter="Q9")).status_code == 422


def test_the_settle_command_settles_what_is_pending(app, tree, runner):
    submit_many(3, quick_payload, unit="P-W1", counter="Q1")

    result = runner.invoke(args=["settle"])

    assert result.exit_code == 0, result.output
    assert "settled 3 responses" in result.output
    db.session.rollback()
    assert pending_count() == 0 and table_count(Answer) == 3


def test_the_background_settler_gives_way_to_another_settler(app, tree, database_url, backend):
    """PostgreSQL: a settler that finds another at work skips its turn instead of queueing."""
    if backend != "postgresql":
        pytest.skip("SQLite settlers queue for its single write lock")
    submit_many(2, quick_payload, unit="P-W1", counter="Q1")
    other = create_engine(database_url)
    with other.begin() as busy:
        busy.execute(select(func.pg_advisory_xact_lock(SETTLING_LOCK_KEY)))
        assert settle_pending(wait=False) == 0
        assert pending_count() == 2
    other.dispose()
    assert settle_pending(wait=False) == 2
    assert_consistent()


def test_a_full_settling_batch_checkpoints_sqlites_wal_itself(app, tree, backend):
    """SQLite: a batch of CHECKPOINT_AFTER_BATCHES_OF or more checkpoints the WAL when its write
    turn is given back (write_turns.checkpoint_after_turn); a shorter one leaves it to SQLite."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL has no WAL checkpoints of ours")
    submit_many(CHECKPOINT_AFTER_BATCHES_OF + 3, counter_payload, unit="P-W1", counter="Q1")
    statements: list[str] = []

    def trace(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    event.listen(db.engine.pool, "checkout", trace)
    try:
        settled = settle_pending(CHECKPOINT_AFTER_BATCHES_OF)  # a full batch, then 3
    finally:
        event.remove(db.engine.pool, "checkout", trace)
        db.session.remove()
        db.engine.dispose()  # no connection keeps the trace

    assert settled == CHECKPOINT_AFTER_BATCHES_OF + 3
    assert [s for s in statements if "wal_checkpoint(" in s] == ["PRAGMA wal_checkpoint(PASSIVE)"]
    assert_consistent()


def test_unknown_codes_are_not_cached(app, tree, api_client):
    """Clients choose the codes they send: a flood of unknown ones must not fill the memory,
    nor reload every unit's codes each time."""
    assert api_client.post("/api/v1/responses", json=quick_payload(unit="P-W1")).status_code == 201
    cached = app.extensions["survey_catalogue"]._entries
    loaded_codes, loaded_counters = cached[("units",)], cached[("counters",)]
    for n in range(50):
        refused = api_client.post("/api/v1/responses", json=quick_payload(unit=f"NO-SUCH-{n}"))
        assert refused.status_code == 422
        refused = api_client.post("/api/v1/responses", json=quick_payload(counter=f"NO-SUCH-{n}"))
        assert refused.status_code == 422
    assert api_client.post("/api/v1/responses", json=quick_payload(unit="P-W1")).status_code == 201
    assert cached[("units",)] is loaded_codes and cached[("counters",)] is loaded_counters
    assert not any("NO-SUCH" in str(key) for key in cached)
    assert not any(code.startswith("NO-SUCH") for code in loaded_codes[1])
    assert loaded_codes[1]["P-W1"].id == tree.ward.id


def test_the_catalogue_resolves_every_code_as_find_unit_by_code_does(app, tree):
    """The catalogue loads every code at once and follows former codes and mergers itself; it
    must name the unit units.find_unit_by_code names, code by code: a chain of two mergers, a
    former code, and a former code that is also another unit's own code (the own code wins)."""
    from survey_app.models import FormerUnitCode
    from survey_app.services.catalogue import catalogue
    from survey_app.services.units import create_unit, find_unit_by_code, merge_unit

    create_unit("P-C2", "Xã Hai", kind="commune", parent=tree.province)
    merge_unit(tree.commune, tree.ward)  # P-C1 → P-W1
    merge_unit(tree.ward, tree.province)  # P-W1 → P, so P-C1 → P-W1 → P
    db.session.add(FormerUnitCode(code="OLD-W1", unit_id=tree.ward.id))
    db.session.add(FormerUnitCode(code="P-C2", unit_id=tree.province.id))
    db.session.commit()

    codes = ["P", "P-W1", "P-C1", "P-C2", "OLD-W1", "NO-SUCH"]
    expected = {code: find_unit_by_code(code) for code in codes}
    assert expected["P-C1"].id == expected["OLD-W1"].id == tree.province.id
    assert expected["P-C2"].code == "P-C2" and expected["NO-SUCH"] is None
    known = catalogue()
    for code in codes:
        entry, unit = known.unit(code), expected[code]
        assert (entry and (entry.id, entry.code, entry.active)) == (
            unit and (unit.id, unit.code, unit.active)
        ), code


def test_a_unit_another_process_adds_is_accepted_at_once(app, tree, api_client, database_url):
    """Every unit's codes are cached together; a code not among them is looked up alone."""
    assert api_client.post("/api/v1/responses", json=quick_payload(unit="P-W1")).status_code == 201
    insert_as_another_process(
        database_url,
        Unit.__table__,
        code="P-W9",
        name_vi="Phường Chín",
        name_en="Ward Nine",
        kind="ward",
        parent_id=tree.province.id,
        path=f"{tree.province.path}9999/",
        active=True,
    )
    payload = quick_payload(unit="P-W9", counter=None)
    assert api_client.post("/api/v1/responses", json=payload).status_code == 201
