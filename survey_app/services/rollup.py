"""Settling responses: turning the answers a submission stored in one column into answer rows,
answer counts and index moments, a batch at a time, off the request path.

Why: a submission writes one row (`responses`, its answers in `pending_answers`), so a burst of
kiosks costs one INSERT each instead of ~40 statements. Settling a batch is one transaction:
insert its answer rows and add them to the counts (both in SQL, straight from the JSON), add the
batch's moments, and claim the responses (clear `pending_answers`). A response is therefore
counted exactly once, and `flask check-counts` still
proves counts and moments equal to the answer rows.

Who settles when: a background thread per process (survey_app/settler.py) lets a burst of
submissions through first and settles in the quiet after it, or once the oldest pending response
has waited SETTLE_MAX_DELAY_SECONDS. Annual reports, exports and `check-counts` settle everything
first (`settle_pending`): they hold every acknowledged response. Live pages settle only a short
backlog (`settle_if_short`) and otherwise say how many responses are still being added, so that
a dashboard stays fast while kiosks are busy.

Settlers take turns (a PostgreSQL advisory lock; SQLite's single write lock, taken before the
batch is read): no response is claimed twice, and counts and moments have one writer at a time.
"""

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Subquery, cast, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import JSONB

import analytics
from questionnaires import Definition
from survey_app import write_turns
from survey_app.extensions import db
from survey_app.models import (
    Answer,
    AnswerCount,
    MonthlyAnswerCount,
    Questionnaire,
    Response,
    YearlyAnswerCount,
)
from survey_app.services.answers import CleanAnswer
from survey_app.services.counts import (
    month_start,
    multi_choice_questions,
    select_counts,
    year_start,
)
from survey_app.services.moments import (
    MomentCell,
    add_to_moments,
    answer_matrix,
    moments_by_cell,
)
from survey_app.services.questionnaires import definition_of, grouping_of
from survey_app.services.sql import upsert_insert
from survey_app.timeutil import as_utc

# Responses settled per transaction by complete readers; the background settler uses
# SETTLE_BATCH_SIZE.
READER_BATCH_SIZE = 1000
# A live page settles the backlog itself only when it is at most this long, so that the page
# stays within its 100 ms: at 1,000,000 responses a page with 10 pending took 42 ms (SQLite) and
# 64 ms (PostgreSQL) against 8 and 17 with none, and with 50 pending 103 and 120 ms
# (benchmarks/README.md, eighth session). A longer backlog is the settlers' (at most
# SETTLE_QUIET_SECONDS after a burst, SETTLE_MAX_DELAY_SECONDS under one that never pauses).
LIVE_READER_SETTLE_LIMIT = 10
# Backlogs are counted up to this many, so that counting one stays cheap however long it is.
BACKLOG_COUNT_CAP = 100_000
# SQLite: a batch of at least this many checkpoints the WAL after giving back its write turn, not
# in its commit (write_turns.checkpoint_after_turn), so that submissions do not wait for it. A
# live page's few leave it to SQLite's automatic checkpoint: not worth two fsyncs in a request.
CHECKPOINT_AFTER_BATCHES_OF = 20


def encode_answers(rows: Sequence[CleanAnswer]) -> str:
    """The clean answers as compact JSON ([[question, value, text], …]) for `pending_answers`."""
    return json.dumps(
        [[r.question_key, r.value, r.text] for r in rows],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def pending_count() -> int:
    """Responses stored but not yet settled (the backlog)."""
    return db.session.scalar(
        select(func.count()).select_from(Response).where(Response.pending_answers.is_not(None))
    )


@dataclass(frozen=True)
class Backlog:
    """Responses stored but not yet settled: how many (counted up to BACKLOG_COUNT_CAP), and when
    the oldest and newest of them were received (None when there are none)."""

    count: int
    oldest: datetime | None = None
    newest: datetime | None = None


def pending_backlog() -> Backlog:
    """The backlog, in one query: the partial index on pending responses answers all three."""
    pending = Response.pending_answers.is_not(None)
    capped = select(Response.received_at).where(pending).limit(BACKLOG_COUNT_CAP).subquery()
    row = db.session.execute(
        select(
            select(func.count()).select_from(capped).scalar_subquery(),
            select(Response.received_at)
            .where(pending)
            .order_by(Response.received_at)
            .limit(1)
            .scalar_subquery(),
            select(Response.received_at)
            .where(pending)
            .order_by(Response.received_at.desc())
            .limit(1)
            .scalar_subquery(),
        )
    ).one()
    count, oldest, newest = row
    return Backlog(count, as_utc(oldest) if oldest else None, as_utc(newest) if newest else None)


def settle_if_short(limit: int | None = None) -> Backlog:
    """For live pages: settle the backlog when it is at most `limit` (LIVE_READER_SETTLE_LIMIT)
    responses and no other settler is busy (PostgreSQL; SQLite queues briefly for its write
    lock), and return what is still pending, which the page shows. A longer backlog is left to
    the background settlers, so that a page never does seconds of settling while kiosks are busy.
    Commits the session."""
    limit = LIVE_READER_SETTLE_LIMIT if limit is None else limit
    backlog = pending_backlog()
    if backlog.count == 0 or backlog.count > limit:
        return backlog
    settled = settle_batch(limit, wait=False)
    db.session.commit()
    return pending_backlog() if settled else backlog


def settle_pending(
    batch_size: int = READER_BATCH_SIZE, max_batches: int | None = None, *, wait: bool = True
) -> int:
    """Settle pending responses, committing after each batch; returns how many were settled.

    Commits the session: call it before making changes of your own (readers call it first).
    `wait=False` (the background settler) gives up at once when another settler is busy on
    PostgreSQL; readers wait for it, so that what they read next includes its batch. (On SQLite
    every settler queues for the write lock, which is held only briefly.)
    """
    settled = batches = 0
    while max_batches is None or batches < max_batches:
        if not _anything_pending():  # a plain read: no lock when there is nothing to do
            break
        done = settle_batch(batch_size, wait=wait)
        db.session.commit()
        if done == 0:
            break
        settled += done
        batches += 1
    return settled


def _anything_pending() -> bool:
    """One probe of the partial index on pending responses (ordered by its column, so that the
    planner takes the index even before statistics say how few rows are pending)."""
    return (
        db.session.execute(
            select(Response.id)
            .where(Response.pending_answers.is_not(None))
            .order_by(Response.received_at)
            .limit(1)
        ).first()
        is not None
    )


def settle_batch(limit: int, only_ids: Iterable[Any] | None = None, *, wait: bool = True) -> int:
    """Claim up to `limit` pending responses (only `only_ids`, if given) and add their answers to
    the answer rows, counts and moments, in the caller's transaction. Returns how many (0 when
    `wait` is False and another settler holds the lock)."""
    if not take_settling_lock(wait):
        return 0
    query = (
        select(
            Response.id,
            Response.questionnaire_id,
            Response.unit_id,
            Response.counter_id,
            Response.channel,
            Response.entered_by,
            Response.local_day,
            Response.weight,
            Response.pending_answers,
        )
        .where(Response.pending_answers.is_not(None))
        .order_by(Response.received_at)  # the partial index's order: an index scan
        .limit(limit)
    )
    if only_ids is not None:
        query = query.where(Response.id.in_(list(only_ids)))
    batch = db.session.execute(query).all()
    if not batch:
        return 0
    if len(batch) >= CHECKPOINT_AFTER_BATCHES_OF:
        write_turns.checkpoint_after_turn(db.session.connection())
    ids = [row.id for row in batch]
    definitions = _definitions({row.questionnaire_id for row in batch})
    pending = _pending_answer_rows(ids)
    db.session.execute(
        insert(Answer.__table__).from_select(
            ["response_id", "question_key", "value", "text"],
            select(pending.c.response_id, pending.c.question_key, pending.c.value, pending.c.text),
        )
    )
    _add_to_counts(pending, multi_choice_questions(definitions))
    _add_to_moments(batch, definitions)
    # Claimed last, in the same transaction: the statements above read `pending_answers`.
    claimed = db.session.execute(
        update(Response.__table__)
        .where(
            Response.__table__.c.id.in_(ids),
            Response.__table__.c.pending_answers.is_not(None),
        )
        .values(pending_answers=None)
    ).rowcount
    if claimed != len(batch):  # the lock above makes this impossible; never count twice
        raise RuntimeError(f"settling claimed {claimed} of {len(batch)} locked responses")
    return len(batch)


def _dialect() -> str:
    return db.session.get_bind().dialect.name


# The PostgreSQL advisory lock that settlers hold for their transaction (any constant of ours).
SETTLING_LOCK_KEY = 0x5149_5041  # "SIPA"


def take_settling_lock(wait: bool = True) -> bool:
    """One settler at a time, for the rest of the transaction: the batch read next cannot be
    claimed by anyone else, and the counts and moments it adds to are written by nobody else.
    SQLite: its single write lock, taken before reading (BEGIN IMMEDIATE; a transaction that has
    already written holds it). PostgreSQL: a transaction-scoped advisory lock."""
    if _dialect() == "sqlite":
        connection = db.session.connection()
        if not connection.connection.driver_connection.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        return True
    if wait:
        db.session.execute(select(func.pg_advisory_xact_lock(SETTLING_LOCK_KEY)))
        return True
    return bool(db.session.scalar(select(func.pg_try_advisory_xact_lock(SETTLING_LOCK_KEY))))


def _definitions(questionnaire_ids: set[int]) -> dict[int, Definition]:
    stored = db.session.scalars(
        select(Questionnaire).where(Questionnaire.id.in_(questionnaire_ids))
    )
    return {questionnaire.id: definition_of(questionnaire) for questionnaire in stored}


def _pending_answer_rows(ids: list) -> Subquery:
    """The pending answers of responses `ids` as SQL rows, one per answer, shaped like
    counts.stored_answer_rows (plus `text`): the database unpacks the JSON, not Python. The batch
    is a materialised CTE, so that the planner looks the ids up instead of scanning responses."""
    responses = Response.__table__.c
    batch = (
        select(
            responses.id.label("response_id"),
            responses.unit_id,
            responses.local_day,
            responses.questionnaire_id,
            func.coalesce(responses.counter_id, 0).label("counter_key"),
            responses.channel,
            responses.entered_by,
            responses.weight,
            responses.pending_answers,
        )
        .where(responses.id.in_(ids))
        .cte("settling")
        .prefix_with("MATERIALIZED")
    )
    if _dialect() == "postgresql":
        elements = func.jsonb_array_elements(cast(batch.c.pending_answers, JSONB)).table_valued(
            "value", joins_implicitly=True
        )

        def item(i: int):
            return elements.c.value.op("->>")(literal_column(str(i)))

        question, value, answer_text = item(0), cast(item(1), Integer), item(2)
    else:
        elements = func.json_each(batch.c.pending_answers).table_valued(
            "value", joins_implicitly=True
        )

        def item(i: int):
            return func.json_extract(elements.c.value, f"$[{i}]")

        question, value, answer_text = item(0), item(1), item(2)
    return select(
        *(column for column in batch.c if column.name != "pending_answers"),
        question.label("question_key"),
        value.label("value"),
        answer_text.label("text"),
    ).subquery()


_COUNT_TABLES = (
    (AnswerCount, lambda day: day),
    (MonthlyAnswerCount, month_start),
    (YearlyAnswerCount, year_start),
)


def _add_to_counts(pending: Subquery, multi: list[tuple[int, str]]) -> None:
    """Add the batch's answers to the daily, monthly and yearly count cells they fall in: one
    INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE per table, computed by the database."""
    for model, period in _COUNT_TABLES:
        table = model.__table__
        primary = [c.name for c in table.primary_key.columns]
        statement = upsert_insert(table).from_select(
            [*primary, "n", "weight_sum"], select_counts(pending, multi, period)
        )
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=primary,
                set_={
                    "n": table.c.n + statement.excluded.n,
                    "weight_sum": table.c.weight_sum + statement.excluded.weight_sum,
                },
            )
        )


def _add_to_moments(batch, definitions: dict[int, Definition]) -> None:
    """Each day, month and year cell the batch touches gets the moments of its respondents."""
    by_questionnaire = defaultdict(list)
    for row in batch:
        by_questionnaire[row.questionnaire_id].append(row)
    additions: dict[MomentCell, tuple[int, analytics.IndexMoments]] = {}
    for questionnaire_id, rows in by_questionnaire.items():
        definition = definitions[questionnaire_id]
        grouping = grouping_of(definition)
        if grouping is None:
            continue
        respondents = [
            {key: value for key, value, _ in json.loads(row.pending_answers) if value is not None}
            for row in rows
        ]
        matrix = answer_matrix(definition, respondents)
        additions.update(moments_by_cell(questionnaire_id, grouping, rows, matrix))
    add_to_moments(additions)
