"""`answer_counts` recomputed from the raw answers: to rebuild it after bulk loads, and to prove
that the counts kept at submission time agree with the rows they summarise."""

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import (
    Date,
    Select,
    Subquery,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)

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
from survey_app.services.questionnaires import definition_of


def multi_choice_questions(definitions: Mapping[int, Definition]) -> list[tuple[int, str]]:
    """(questionnaire id, question key) of every multi-choice question of `definitions`."""
    return [
        (questionnaire_id, question.key)
        for questionnaire_id, definition in definitions.items()
        for question in definition.questions
        if question.type == "multi"
    ]


def stored_answer_rows() -> Subquery:
    """Every answer row with what counting needs of its response (see `select_counts`)."""
    return (
        select(
            Answer.response_id,
            Response.unit_id,
            Response.local_day,
            Response.questionnaire_id,
            Answer.question_key,
            Answer.value,
            func.coalesce(Response.counter_id, 0).label("counter_key"),
            Response.channel,
            Response.entered_by,
            Response.weight,
        )
        .join(Response, Response.id == Answer.response_id)
        .subquery()
    )


def select_counts(
    answers: Subquery, multi: list[tuple[int, str]], period=lambda day: day
) -> Select:
    """Rows shaped like `answer_counts` (n and weight per cell), from `answers`: one row per
    answer with response_id, unit_id, local_day, questionnaire_id, question_key, value,
    counter_key, channel, entered_by and weight (stored_answer_rows, or the pending answers of
    a batch being settled). `period` maps the day to the cell's period (month_start,
    year_start). A multi-choice question (`multi`) also gets an ANSWERED_MARKER row counting
    each response that chose any option once: the denominator for the share of each option."""
    a = answers.c
    tail = (a.counter_key, a.channel, a.entered_by)
    valued = select(
        a.unit_id, a.local_day, a.questionnaire_id, a.question_key, a.value, *tail, a.weight
    ).where(a.value.is_not(None))
    if multi:
        is_multi = or_(
            *(and_(a.questionnaire_id == qid, a.question_key == key) for qid, key in multi)
        )
        answered = (
            select(
                a.response_id,
                a.unit_id,
                a.local_day,
                a.questionnaire_id,
                a.question_key,
                literal(ANSWERED_MARKER).label("value"),
                *tail,
                a.weight,
            )
            .where(a.value.is_not(None), is_multi)
            .distinct()
            .subquery()
        )
        marked = select(*(column for column in answered.c if column.name != "response_id"))
        valued = union_all(valued, marked)
    rows = valued.subquery()
    keys = (
        rows.c.unit_id,
        period(rows.c.local_day),
        rows.c.questionnaire_id,
        rows.c.question_key,
        rows.c.value,
        rows.c.counter_key,
        rows.c.channel,
        rows.c.entered_by,
    )
    return select(
        *keys, func.count().label("n"), func.sum(rows.c.weight).label("weight_sum")
    ).group_by(*keys)


def select_counts_from_answers() -> Select:
    """Rows shaped like `answer_counts`, computed from `answers` joined to `responses`."""
    definitions = {q.id: definition_of(q) for q in db.session.scalars(select(Questionnaire))}
    return select_counts(stored_answer_rows(), multi_choice_questions(definitions))


_COLUMNS = [
    "unit_id",
    "local_day",
    "questionnaire_id",
    "question_key",
    "value",
    "counter_key",
    "channel",
    "entered_by",
    "n",
    "weight_sum",
]


def month_start(day_column):
    """The first day of the column's month, in SQL (SQLite and PostgreSQL say it differently)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("month", day_column), Date)
    return func.date(day_column, "start of month")


def year_start(day_column):
    """The first day of the column's year, in SQL."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("year", day_column), Date)
    return func.date(day_column, "start of year")


def _summed(model, period_column, truncate, label: str) -> Select:
    """`model`'s count rows summed per coarser period (`truncate` of `period_column`)."""
    keys = [
        model.unit_id,
        truncate(period_column).label(label),
        model.questionnaire_id,
        model.question_key,
        model.value,
        model.counter_key,
        model.channel,
        model.entered_by,
    ]
    return select(*keys, func.sum(model.n).label("n"), func.sum(model.weight_sum)).group_by(*keys)


def select_monthly_from_daily() -> Select:
    """Rows shaped like `answer_counts_monthly`, summed from the daily `answer_counts`."""
    return _summed(AnswerCount, AnswerCount.local_day, month_start, "month")


def select_yearly_from_monthly() -> Select:
    """Rows shaped like `answer_counts_yearly`, summed from `answer_counts_monthly`."""
    return _summed(MonthlyAnswerCount, MonthlyAnswerCount.month, year_start, "year")


_MONTHLY_COLUMNS = ["month" if c == "local_day" else c for c in _COLUMNS]
_YEARLY_COLUMNS = ["year" if c == "local_day" else c for c in _COLUMNS]


def rebuild_answer_counts() -> int:
    """Replace `answer_counts` (and its monthly and yearly sums) with counts recomputed from the
    answers; returns the daily row count."""
    db.session.execute(delete(AnswerCount))
    db.session.execute(delete(MonthlyAnswerCount))
    db.session.execute(delete(YearlyAnswerCount))
    db.session.execute(insert(AnswerCount).from_select(_COLUMNS, select_counts_from_answers()))
    db.session.execute(
        insert(MonthlyAnswerCount).from_select(_MONTHLY_COLUMNS, select_monthly_from_daily())
    )
    db.session.execute(
        insert(YearlyAnswerCount).from_select(_YEARLY_COLUMNS, select_yearly_from_monthly())
    )
    return db.session.scalar(select(func.count()).select_from(AnswerCount))


@dataclass(frozen=True)
class CountDifference:
    key: tuple
    kept: int
    recomputed: int


def compare_answer_counts(limit: int = 20) -> tuple[int, list[CountDifference]]:
    """Compare the kept daily counts with a recomputation from the answers, the kept monthly sums
    with the daily counts summed per month, and the yearly sums with the monthly ones summed per
    year. Returns (cells compared, differences)."""
    daily = _compare(
        select(*(getattr(AnswerCount, c) for c in _COLUMNS[:9])), select_counts_from_answers()
    )
    monthly = _compare(
        select(*(getattr(MonthlyAnswerCount, c) for c in _MONTHLY_COLUMNS[:9])),
        select_monthly_from_daily(),
        label="month",
    )
    yearly = _compare(
        select(*(getattr(YearlyAnswerCount, c) for c in _YEARLY_COLUMNS[:9])),
        select_yearly_from_monthly(),
        label="year",
    )
    cells = daily[0] + monthly[0] + yearly[0]
    differences = daily[1] + monthly[1] + yearly[1]
    return cells, differences[:limit] if limit else differences


def _compare(kept_query, recomputed_query, label: str = "") -> tuple[int, list[CountDifference]]:
    def read(query) -> dict[tuple, int]:
        return {
            (label, *(str(v) for v in row[:8])) if label else tuple(row[:8]): int(row[8])
            for row in db.session.execute(query)
        }

    kept, recomputed = read(kept_query), read(recomputed_query)
    differences = [
        CountDifference(key, kept.get(key, 0), recomputed.get(key, 0))
        for key in sorted(kept.keys() | recomputed.keys(), key=str)
        if kept.get(key, 0) != recomputed.get(key, 0)
    ]
    return len(kept.keys() | recomputed.keys()), differences
