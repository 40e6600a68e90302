"""Settling responses: turning the answers a submission stored in one column into answer rows,
answer counts and index moments, a batch at a time, off the request path.

Why: a submission writes one row (`responses`, its answers in `pending_answers`), so a burst of
kiosks costs one INSERT each instead of ~40 statements. Settling a batch is one transaction:
claim the responses (clear `pending_answers`), insert their answer rows, add them to the counts
and the moments. A response is therefore counted exactly once, and `flask check-counts` still
proves counts and moments equal to the answer rows. Whoever reads figures or answers settles
what is pending first (`settle_pending`), so nothing acknowledged is missing from a page; a
background thread per process keeps the backlog short (survey_app/settler.py).

Concurrent settlers never claim the same response: PostgreSQL locks the batch with
`FOR UPDATE SKIP LOCKED`; SQLite takes its single write lock (`BEGIN IMMEDIATE`) before reading
the batch.
"""

import json
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, insert, select, update

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
)
from survey_app.services.answers import CleanAnswer
from survey_app.services.moments import MomentCell, add_to_moments, answer_matrix, month_of
from survey_app.services.questionnaires import definition_of, grouping_of
from survey_app.services.sql import upsert_insert

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


def settle_pending(batch_size: int = READER_BATCH_SIZE, max_batches: int | None = None) -> int:
    """Settle pending responses, committing after each batch; returns how many were settled.

    Commits the session: call it before making changes of your own (readers call it first).
    """
    settled = batches = 0
    while max_batches is None or batches < max_batches:
        if not _anything_pending():  # a plain read: no write lock when there is nothing to do
            break
        done = settle_batch(batch_size)
        db.session.commit()
        if done == 0:
            break
        settled += done
        batches += 1
    return settled


def _anything_pending() -> bool:
    return (
        db.session.execute(
            select(Response.id).where(Response.pending_answers.is_not(None)).limit(1)
        ).first()
        is not None
    )


def settle_batch(limit: int, only_ids: Iterable[Any] | None = None) -> int:
    """Claim up to `limit` pending responses (only `only_ids`, if given) and add their answers to
    the answer rows, counts and moments, in the caller's transaction. Returns how many."""
    _take_write_lock()
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
        .order_by(Response.received_at, Response.id)
        .limit(limit)
    )
    if only_ids is not None:
        query = query.where(Response.id.in_(list(only_ids)))
    if _dialect() == "postgresql":
        query = query.with_for_update(skip_locked=True)
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
    if claimed != len(batch):  # the locks above make this impossible; never count twice
        raise RuntimeError(f"settling claimed {claimed} of {len(batch)} locked responses")
    answers = {row.id: decode_answers(row.pending_answers) for row in batch}
    db.session.execute(
        insert(Answer.__table__),
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


def _take_write_lock() -> None:
    """SQLite: start the transaction as a writer, so that the batch read next cannot be claimed
    by another process meanwhile. Inside a transaction that has already written, the lock is
    already held."""
    if _dialect() != "sqlite":
        return
    connection = db.session.connection()
    if not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _definitions(questionnaire_ids: set[int]) -> dict[int, Definition]:
    stored = db.session.scalars(
        select(Questionnaire).where(Questionnaire.id.in_(questionnaire_ids))
    )
    return {questionnaire.id: definition_of(questionnaire) for questionnaire in stored}


def _add_to_counts(batch, answers, definitions: dict[int, Definition]) -> None:
    """One upsert per cell touched by the batch, in key order (concurrent settlers lock cells in
    the same order and cannot deadlock)."""
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
    monthly_n: Tally = Tally()
    monthly_weight: dict[tuple, float] = defaultdict(float)
    for key, count in n.items():
        month_key = (key[0], month_of(key[1]), *key[2:])
        monthly_n[month_key] += count
        monthly_weight[month_key] += weight[key]
    for model, cells, weights in (
        (AnswerCount, n, weight),
        (MonthlyAnswerCount, monthly_n, monthly_weight),
    ):
        columns = [c.name for c in model.__table__.primary_key.columns]
        db.session.execute(
            _count_upsert(model),
            [
                {
                    **dict(zip(columns, key, strict=True)),
                    "n": cells[key],
                    "weight_sum": weights[key],
                }
                for key in sorted(cells)
            ],
        )


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
    """Each day and month cell the batch touches gets the moments of its new respondents."""
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
        members: dict[MomentCell, list[int]] = defaultdict(list)
        for i, row in enumerate(rows):
            for granularity, start in _periods_of(row.local_day):
                cell = MomentCell(
                    row.unit_id,
                    granularity,
                    start,
                    questionnaire_id,
                    row.counter_id or 0,
                    row.channel,
                    row.entered_by,
                )
                members[cell].append(i)
        for cell, indices in members.items():
            moments = analytics.IndexMoments.from_rows(matrix[indices], grouping.items, grouping)
            additions[cell] = (len(indices), moments)
    for cell in sorted(additions, key=MomentCell.sort_key):
        respondents, moments = additions[cell]
        add_to_moments(cell, moments, respondents)


def _periods_of(day: date) -> tuple[tuple[str, date], tuple[str, date]]:
    return (("day", day), ("month", month_of(day)))
