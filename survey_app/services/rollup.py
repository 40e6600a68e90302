"""Settling responses: turning the answers a submission stored in one column into answer rows,
answer counts and index moments, a batch at a time, off the request path.

Why: a submission writes one row (`responses`, its answers in `pending_answers`), so a burst of
kiosks costs one INSERT each instead of ~40 statements. Settling a batch is one transaction:
claim the responses (clear `pending_answers`), insert their answer rows, add them to the counts
and the moments. A response is therefore counted exactly once, and `flask check-counts` still
proves counts and moments equal to the answer rows. Whoever reads figures or answers settles
what is pending first (`settle_pending`), so nothing acknowledged is missing from a page; a
background thread per process keeps the backlog short (survey_app/settler.py).

Settlers take turns (a PostgreSQL advisory lock; SQLite's single write lock, taken before the
batch is read): no response is claimed twice, and counts and moments have one writer at a time.
"""

import json
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select, text, update

import analytics
from questionnaires import Definition
from survey_app.extensions import db
from survey_app.models import (
    ANSWERED_MARKER,
    Answer,
    AnswerCount,
    MonthlyAnswerCount,
    Questionnaire,
    Response,
    YearlyAnswerCount,
)
from survey_app.services.answers import CleanAnswer
from survey_app.services.moments import (
    MomentCell,
    add_to_moments,
    answer_matrix,
    moments_by_cell,
    month_of,
)
from survey_app.services.questionnaires import definition_of, grouping_of
from survey_app.services.sql import bulk_insert, upsert_insert

# Responses settled per transaction by readers; the background settler uses SETTLE_BATCH_SIZE.
READER_BATCH_SIZE = 1000


def encode_answers(rows: Sequence[CleanAnswer]) -> str:
    """The clean answers as compact JSON ([[question, value, text], …]) for `pending_answers`."""
    return json.dumps(
        [[r.question_key, r.value, r.text] for r in rows],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode_answers(text: str) -> list[CleanAnswer]:
    return [CleanAnswer(key, value, answer_text) for key, value, answer_text in json.loads(text)]


def pending_count() -> int:
    """Responses stored but not yet settled (the backlog)."""
    return db.session.scalar(
        select(func.count()).select_from(Response).where(Response.pending_answers.is_not(None))
    )


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
    if not _take_settling_lock(wait):
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
    claimed = db.session.execute(
        update(Response.__table__)
        .where(
            Response.__table__.c.id.in_([row.id for row in batch]),
            Response.__table__.c.pending_answers.is_not(None),
        )
        .values(pending_answers=None)
    ).rowcount
    if claimed != len(batch):  # the lock above makes this impossible; never count twice
        raise RuntimeError(f"settling claimed {claimed} of {len(batch)} locked responses")
    answers = {row.id: decode_answers(row.pending_answers) for row in batch}
    bulk_insert(
        Answer.__table__,
        [
            {
                "response_id": row.id,
                "question_key": a.question_key,
                "value": a.value,
                "text": a.text,
            }
            for row in batch
            for a in answers[row.id]
        ],
    )
    definitions = _definitions({row.questionnaire_id for row in batch})
    _add_to_counts(batch, answers, definitions)
    _add_to_moments(batch, answers, definitions)
    return len(batch)


def _dialect() -> str:
    return db.session.get_bind().dialect.name


# The PostgreSQL advisory lock that settlers hold for their transaction (any constant of ours).
SETTLING_LOCK_KEY = 0x5149_5041  # "SIPA"


def _take_settling_lock(wait: bool) -> bool:
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


def _add_to_counts(batch, answers, definitions: dict[int, Definition]) -> None:
    """Add the batch's answers to the daily, monthly and yearly count cells it touches."""
    multi = {
        qid: {q.key for q in d.questions if q.type == "multi"} for qid, d in definitions.items()
    }
    n: Tally = Tally()
    weight: dict[tuple, float] = defaultdict(float)
    for row in batch:
        cell = (row.unit_id, row.local_day, row.questionnaire_id)
        tail = (row.counter_id or 0, row.channel, row.entered_by)
        answered_multi = set()
        for a in answers[row.id]:
            if a.value is None:
                continue
            key = (*cell, a.question_key, a.value, *tail)
            n[key] += 1
            weight[key] += row.weight
            if a.question_key in multi[row.questionnaire_id]:
                answered_multi.add(a.question_key)
        for question_key in answered_multi:
            key = (*cell, question_key, ANSWERED_MARKER, *tail)
            n[key] += 1
            weight[key] += row.weight
    if not n:
        return
    monthly_n, monthly_weight = _coarser(n, weight, month_of)
    yearly_n, yearly_weight = _coarser(monthly_n, monthly_weight, lambda d: d.replace(month=1))
    _upsert_counts(AnswerCount, n, weight)
    _upsert_counts(MonthlyAnswerCount, monthly_n, monthly_weight)
    _upsert_counts(YearlyAnswerCount, yearly_n, yearly_weight)


def _coarser(cells: Tally, weights: dict[tuple, float], period_of) -> tuple[Tally, dict]:
    """The same cells summed per coarser period (`period_of` maps a key's period, its second
    field, to the first day of the period containing it)."""
    n: Tally = Tally()
    weight: dict[tuple, float] = defaultdict(float)
    for key, count in cells.items():
        coarse = (key[0], period_of(key[1]), *key[2:])
        n[coarse] += count
        weight[coarse] += weights[key]
    return n, weight


def _upsert_counts(model, cells: Tally, weights: dict[tuple, float]) -> None:
    """Add to the cells of `model`'s table, in key order. PostgreSQL: one statement over arrays
    (unnest), one round trip however many cells; SQLite: one executemany."""
    columns = [c.name for c in model.__table__.primary_key.columns]
    keys = sorted(cells)
    if _dialect() == "postgresql":
        values = [list(column) for column in zip(*keys, strict=True)]
        values += [[cells[key] for key in keys], [weights[key] for key in keys]]
        db.session.execute(
            _unnest_upsert(model), {f"c{i}": column for i, column in enumerate(values)}
        )
        return
    db.session.execute(
        _count_upsert(model),
        [
            {**dict(zip(columns, key, strict=True)), "n": cells[key], "weight_sum": weights[key]}
            for key in keys
        ],
    )


_SQL_ARRAY_TYPES = {"INTEGER": "integer[]", "DATE": "date[]", "FLOAT": "double precision[]"}


def _unnest_upsert(model):
    """INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO UPDATE, for `model`'s count table."""
    key = (model.__tablename__, "unnest")
    if key not in _COUNT_UPSERTS:
        table = model.__table__
        primary = [c.name for c in table.primary_key.columns]
        columns = [*primary, "n", "weight_sum"]
        arrays = ", ".join(
            f"CAST(:c{i} AS {_SQL_ARRAY_TYPES.get(str(table.c[name].type), 'text[]')})"
            for i, name in enumerate(columns)
        )
        _COUNT_UPSERTS[key] = text(
            f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({', '.join(primary)}) DO UPDATE SET "
            f"n = {table.name}.n + excluded.n, "
            f"weight_sum = {table.name}.weight_sum + excluded.weight_sum"
        )
    return _COUNT_UPSERTS[key]


# One upsert statement per table and database, executed with many rows: compiled once.
_COUNT_UPSERTS: dict[tuple[str, str], Any] = {}


def _count_upsert(model):
    key = (model.__tablename__, _dialect())
    if key not in _COUNT_UPSERTS:
        table = model.__table__
        statement = upsert_insert(table)
        _COUNT_UPSERTS[key] = statement.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_={
                "n": table.c.n + statement.excluded.n,
                "weight_sum": table.c.weight_sum + statement.excluded.weight_sum,
            },
        )
    return _COUNT_UPSERTS[key]


def _add_to_moments(batch, answers, definitions: dict[int, Definition]) -> None:
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
        matrix = answer_matrix(
            definition,
            [
                {a.question_key: a.value for a in answers[row.id] if a.value is not None}
                for row in rows
            ],
        )
        additions.update(moments_by_cell(questionnaire_id, grouping, rows, matrix))
    add_to_moments(additions)
