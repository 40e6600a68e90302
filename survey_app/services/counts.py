"""`answer_counts` recomputed from the raw answers: to rebuild it after bulk loads, and to prove
that the counts kept at submission time agree with the rows they summarise."""

from dataclasses import dataclass

from sqlalchemy import (
    Date,
    Select,
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

_GROUP = (
    Response.unit_id,
    Response.local_day,
    Response.questionnaire_id,
    Answer.question_key,
)
_TAIL = (
    func.coalesce(Response.counter_id, 0).label("counter_key"),
    Response.channel,
    Response.entered_by,
)


def _multi_choice_questions() -> list[tuple[int, str]]:
    pairs = []
    for questionnaire in db.session.scalars(select(Questionnaire)):
        definition = definition_of(questionnaire)
        pairs += [(questionnaire.id, q.key) for q in definition.questions if q.type == "multi"]
    return pairs


def select_counts_from_answers() -> Select:
    """Rows shaped like `answer_counts`, computed from `answers` joined to `responses`."""
    joined = select().select_from(Answer).join(Response, Response.id == Answer.response_id)
    per_value = (
        joined.add_columns(
            *_GROUP,
            Answer.value,
            *_TAIL,
            func.count().label("n"),
            func.sum(Response.weight).label("weight_sum"),
        )
        .where(Answer.value.is_not(None))
        .group_by(*_GROUP, Answer.value, *_TAIL)
    )
    multi = _multi_choice_questions()
    if not multi:
        return per_value
    is_multi = or_(
        *(and_(Response.questionnaire_id == qid, Answer.question_key == key) for qid, key in multi)
    )
    # A multi-choice question answered by a response has one row per option; count responses once.
    answered = (
        select(Answer.response_id, Answer.question_key)
        .join(Response, Response.id == Answer.response_id)
        .where(is_multi)
        .distinct()
        .subquery()
    )
    markers = (
        select(
            Response.unit_id,
            Response.local_day,
            Response.questionnaire_id,
            answered.c.question_key,
            literal(ANSWERED_MARKER).label("value"),
            *_TAIL,
            func.count().label("n"),
            func.sum(Response.weight).label("weight_sum"),
        )
        .select_from(answered)
        .join(Response, Response.id == answered.c.response_id)
        .group_by(
            Response.unit_id,
            Response.local_day,
            Response.questionnaire_id,
            answered.c.question_key,
            *_TAIL,
        )
    )
    return union_all(per_value, markers)


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
